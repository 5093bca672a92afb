"""Who is calling: a user (session cookie or user token), a worker (worker token or the configured token),
or everyone as an administrator when auth is off. Also the signed cookies and CSRF tokens the pages use."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from server.db import SessionDep
from server.errors import Forbidden, Unauthorized
from server.services import accounts
from server.tables import User
from trainboard.files import private_dir
from trainboard.settings import get_settings

SESSION_COOKIE = "tb_session"
CSRF_COOKIE = "tb_csrf"
SESSION_SECONDS = 14 * 24 * 3600

hash_token = accounts.hash_token


@dataclass(frozen=True)
class Principal:
    """The caller of a request."""

    kind: Literal["anonymous", "user", "worker"]
    user_id: int | None = None
    username: str | None = None
    is_admin: bool = False

    @property
    def sees_everything(self) -> bool:
        """Admins, workers and (auth off) everyone see every project, dataset and gradient check."""
        return self.kind != "user" or self.is_admin


ANONYMOUS_ADMIN = Principal(kind="anonymous", is_admin=True)
WORKER = Principal(kind="worker")


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
    path = private_dir(settings.resolved_home) / "secret_key"
    try:  # created readable by its owner only from the start, and by one process only (O_EXCL)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(handle, "w") as out:
        out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def auth_enabled() -> bool:
    return get_settings().auth_enabled


def token_is_valid(token: str) -> bool:
    """True for the configured TRAINBOARD_API_TOKEN (compared by hash)."""
    expected = _expected_token_hash()
    return expected is not None and hmac.compare_digest(hash_token(token), expected)


def _sign(payload: str) -> str:
    return hmac.new(secret_key(), payload.encode(), hashlib.sha256).hexdigest()


def _session_signature(user_id: int | str, expires: int | str, password_hash: str) -> str:
    # The password hash is signed in (never sent): a new password voids every cookie issued before it.
    return _sign(f"{user_id}.{expires}.{password_hash}")


def make_session_cookie(user_id: int, password_hash: str) -> str:
    """`user_id.expires.signature`: the cookie names the user and cannot be forged or extended, and it
    stops working when the user's password changes (every other session ends with it)."""
    expires = int(time.time()) + SESSION_SECONDS
    return f"{user_id}.{expires}.{_session_signature(user_id, expires, password_hash)}"


def session_user_id(cookie: str | None) -> int | None:
    """The user id an unexpired session cookie names, else None; `session_user` checks its signature."""
    parts = (cookie or "").split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts[:2]) or int(parts[1]) <= time.time():
        return None
    return int(parts[0])


def session_user(session: Session, cookie: str | None) -> User | None:
    """The user a valid, unexpired session cookie was issued to under their current password, else None."""
    user_id = session_user_id(cookie)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or cookie is None:
        return None
    _, expires, signature = cookie.split(".")
    expected = _session_signature(user_id, expires, user.password_hash)  # type: ignore[arg-type]
    return user if hmac.compare_digest(signature, expected) else None


def _user_principal(user: User | None) -> Principal | None:
    if user is None or user.disabled:
        return None
    return Principal(kind="user", user_id=user.id, username=user.username, is_admin=user.is_admin)


def identify(request: Request, session: Session) -> Principal | None:
    """The caller, or None when auth is on and the request carries no valid credential."""
    if not auth_enabled():
        return ANONYMOUS_ADMIN
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        if token_is_valid(token):
            return WORKER
        row = accounts.find_token(session=session, token=token) if token else None
        if row is None:
            return None
        if row.kind == "worker":
            return WORKER
        return _user_principal(session.get(User, row.user_id))
    return _user_principal(session_user(session, request.cookies.get(SESSION_COOKIE)))


async def current_principal(request: Request, session: SessionDep) -> Principal:
    """API dependency: the caller, or 401.

    Async so that with auth off (no lookup at all) a request skips a thread-pool hop; the token and
    account lookups of auth on run in the thread pool, off the event loop."""
    if not auth_enabled():
        return ANONYMOUS_ADMIN
    principal = await run_in_threadpool(identify, request, session)
    if principal is None:
        raise Unauthorized("Missing or invalid API token: send 'Authorization: Bearer <token>'")
    return principal


ApiAuth = Annotated[Principal, Depends(current_principal)]


def require_user(principal: Principal) -> int:
    """The caller's user id; 403 for a worker, which has no account of its own."""
    if principal.kind == "worker":
        raise Forbidden("Workers cannot manage accounts, tokens or members")
    if principal.user_id is None:
        raise Forbidden("Auth is off: there are no accounts (set TRAINBOARD_AUTH=on)")
    return principal.user_id


def require_admin(principal: Principal) -> None:
    """403 unless the caller is an administrator."""
    if not principal.is_admin:
        raise Forbidden("Only administrators may do this")


async def admin_principal(principal: ApiAuth) -> Principal:
    """Route dependency: the caller, who must be an administrator (checked before the body is read)."""
    require_admin(principal)
    return principal


AdminAuth = Annotated[Principal, Depends(admin_principal)]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_is_valid(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))
