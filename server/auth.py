"""Who is calling: a user (session cookie or user token), a worker (worker token or the configured token),
or everyone as an administrator when auth is off. Also the signed cookies and CSRF tokens the pages use."""

from __future__ import annotations

import hashlib
import hmac
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
from server.files import create_once
from server.services import accounts
from server.tables import User
from trainboard.files import private_dir
from trainboard.settings import get_settings

SESSION_COOKIE = "tb_session"
CSRF_COOKIE = "tb_csrf"
#: The header the pages' scripts send the CSRF token in (the same token their forms carry).
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SECONDS = 14 * 24 * 3600
UNAUTHENTICATED = "Missing or invalid API token: send 'Authorization: Bearer <token>'"

hash_token = accounts.hash_token


@dataclass(frozen=True)
class Principal:
    """The caller of a request."""

    kind: Literal["anonymous", "user", "worker"]
    user_id: int | None = None
    username: str | None = None
    is_admin: bool = False
    # Authenticated by the session cookie (a browser), not a bearer token: its writes need the CSRF token.
    by_cookie: bool = False

    @property
    def scope(self) -> str:
        """Whose namespace the caller's Idempotency-Keys live in: a user's, the workers' or (auth off) all."""
        return f"user:{self.user_id}" if self.kind == "user" else self.kind

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
    # Readable by its owner only, in a private folder; two server processes starting at once agree on one
    # key: the first file written wins.
    path = private_dir(settings.resolved_home) / "secret_key"
    return create_once(path, secrets.token_hex(32).encode()).strip()


def auth_enabled() -> bool:
    return get_settings().auth_enabled


def token_is_valid(token: str) -> bool:
    """True for the configured TRAINBOARD_API_TOKEN (compared by hash)."""
    expected = _expected_token_hash()
    return expected is not None and hmac.compare_digest(hash_token(token), expected)


def _sign(payload: str) -> str:
    return hmac.new(secret_key(), payload.encode(), hashlib.sha256).hexdigest()


def _session_signature(user: User, expires: int | str) -> str:
    # The password hash and the session generation are signed in (never sent): a new password, or a
    # logout, voids every cookie issued before it.
    return _sign(f"{user.id}.{expires}.{user.session_generation}.{user.password_hash}")


def make_session_cookie(user: User) -> str:
    """`user_id.expires.signature`: the cookie names the user and cannot be forged or extended, and it
    stops working when the user's password changes or they log out (every session of theirs ends)."""
    expires = int(time.time()) + SESSION_SECONDS
    return f"{user.id}.{expires}.{_session_signature(user, expires)}"


def session_user_id(cookie: str | None) -> int | None:
    """The user id an unexpired session cookie names, else None; `session_user` checks its signature."""
    parts = (cookie or "").split(".")
    if (
        len(parts) != 3
        or not all(part.isascii() and part.isdigit() for part in parts[:2])
        or int(parts[1]) <= time.time()
    ):
        return None
    return int(parts[0])


def session_user(session: Session, cookie: str | None) -> User | None:
    """The user a valid, unexpired session cookie was issued to under their current password and session
    generation (no logout since), else None."""
    user_id = session_user_id(cookie)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or cookie is None:
        return None
    _, expires, signature = cookie.split(".")
    return user if hmac.compare_digest(signature, _session_signature(user, expires)) else None


def _user_principal(user: User | None, *, by_cookie: bool = False) -> Principal | None:
    if user is None or user.disabled:
        return None
    return Principal(
        kind="user", user_id=user.id, username=user.username, is_admin=user.is_admin, by_cookie=by_cookie
    )


@dataclass(frozen=True)
class Credential:
    kind: Literal["bearer", "session"]
    value: str


def credential(request: Request) -> Credential | None:
    """What the request presents to be identified by: a bearer token (which wins), else an unexpired session
    cookie; None when it presents nothing that could be valid. The first step of `identify`, taken alone
    (no database) to refuse an anonymous request before its body is read."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        return Credential("bearer", token) if token else None
    cookie = request.cookies.get(SESSION_COOKIE)
    return Credential("session", cookie) if cookie and session_user_id(cookie) is not None else None


def identify(request: Request, session: Session) -> Principal | None:
    """The caller, or None when auth is on and the request carries no valid credential."""
    if not auth_enabled():
        return ANONYMOUS_ADMIN
    presented = credential(request)
    if presented is None:
        return None
    if presented.kind == "session":
        return _user_principal(session_user(session, presented.value), by_cookie=True)
    if token_is_valid(presented.value):
        return WORKER
    row = accounts.find_token(session=session, token=presented.value)
    if row is None:
        return None
    if row.kind == "worker":
        return WORKER
    return _user_principal(session.get(User, row.user_id))


def may_read_metrics(request: Request, session: Session) -> bool:
    """GET /metrics: anyone with auth off; else the TRAINBOARD_METRICS_TOKEN (a scraper's), a worker token,
    or an administrator."""
    if not auth_enabled():
        return True
    presented = credential(request)
    configured = get_settings().metrics_token
    if presented is not None and presented.kind == "bearer" and configured:
        if hmac.compare_digest(hash_token(presented.value), hash_token(configured)):
            return True
    principal = identify(request, session)
    return principal is not None and (principal.kind == "worker" or principal.is_admin)


async def current_principal(request: Request, session: SessionDep) -> Principal:
    """API dependency: the caller, or 401.

    Async so that with auth off (no lookup at all) a request skips a thread-pool hop; the token and
    account lookups of auth on run in the thread pool, off the event loop."""
    if not auth_enabled():
        return ANONYMOUS_ADMIN
    principal = await run_in_threadpool(identify, request, session)
    if principal is None:
        raise Unauthorized(UNAUTHENTICATED)
    if principal.by_cookie and request.method not in SAFE_METHODS:
        # SameSite=Lax does not stop another port of this host or a sibling subdomain from sending the
        # cookie: a write with it must also carry the token only this site's pages can read.
        if not csrf_is_valid(request, request.headers.get(CSRF_HEADER)):
            raise Forbidden(
                f"A write authenticated by the session cookie needs the page's {CSRF_HEADER} header "
                "(scripts send 'Authorization: Bearer <token>' instead)"
            )
    return principal


ApiAuth = Annotated[Principal, Depends(current_principal)]


def require_user(principal: Principal) -> int:
    """The caller's user id; 403 for a worker, which has no account of its own."""
    if principal.kind == "worker":
        raise Forbidden("Workers cannot manage accounts, tokens or members")
    if principal.user_id is None:
        raise Forbidden("Auth is off: there are no accounts (set TRAINBOARD_AUTH=on)")
    return principal.user_id


def require_auth_on() -> None:
    """403 with auth off: accounts, tokens and members are made only with auth on (or by the admin CLI).

    With auth off every caller is an administrator, so an account or token made then (by anyone who
    reached the server, or by a page they were lured to) would be a key that still works once auth is on."""
    if not auth_enabled():
        raise Forbidden(
            "Auth is off, so there are no accounts to manage: turn it on (TRAINBOARD_AUTH=on), or run "
            "'trainboard users add' / 'trainboard tokens add' next to the database"
        )


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
