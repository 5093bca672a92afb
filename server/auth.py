"""Token auth for the API, a signed session cookie for the pages, and CSRF tokens for forms."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request

from server.errors import Unauthorized
from trainboard.settings import get_settings

SESSION_COOKIE = "tb_session"
CSRF_COOKIE = "tb_csrf"
SESSION_SECONDS = 14 * 24 * 3600


def hash_token(token: str) -> str:
    """Tokens are only ever compared by their SHA-256, so a configured token is never held in the clear."""
    return hashlib.sha256(token.encode()).hexdigest()


@lru_cache
def _expected_token_hash() -> str | None:
    token = get_settings().api_token
    return hash_token(token) if token else None


@lru_cache
def secret_key() -> bytes:
    """The key that signs cookies: from settings, else one random key kept in the data folder."""
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.resolved_home / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def auth_enabled() -> bool:
    return _expected_token_hash() is not None


def token_is_valid(token: str) -> bool:
    expected = _expected_token_hash()
    return expected is not None and hmac.compare_digest(hash_token(token), expected)


def _sign(payload: str) -> str:
    return hmac.new(secret_key(), payload.encode(), hashlib.sha256).hexdigest()


def make_session_cookie() -> str:
    expires = str(int(time.time()) + SESSION_SECONDS)
    return f"{expires}.{_sign(expires)}"


def session_is_valid(cookie: str | None) -> bool:
    if not cookie or "." not in cookie:
        return False
    expires, signature = cookie.split(".", 1)
    return expires.isdigit() and int(expires) > time.time() and hmac.compare_digest(signature, _sign(expires))


def is_authenticated(request: Request) -> bool:
    """True when auth is off, or the request carries the token or a valid session cookie."""
    if not auth_enabled():
        return True
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and token_is_valid(header[7:].strip()):
        return True
    return session_is_valid(request.cookies.get(SESSION_COOKIE))


def require_api_auth(request: Request) -> None:
    """API dependency: 401 unless authenticated."""
    if not is_authenticated(request):
        raise Unauthorized("Missing or invalid API token: send 'Authorization: Bearer <token>'")


ApiAuth = Annotated[None, Depends(require_api_auth)]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_is_valid(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))
