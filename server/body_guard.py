"""Request bodies bounded before they are read: by Content-Length before the first byte, then by counting the
bytes as they arrive; and with auth on, an API write that presents no credential at all is refused (401)
before a byte of its body is read.

The checks sit in `receive`, so they run when a handler (or FastAPI, for a body parameter) first asks for
the body, after routing: the endpoint says which limit applies (`@body_limit`), and a request refused
before that (404, a failed access check on a route that reads its body afterwards) never reads it. The
refusals are HTTPExceptions, which FastAPI's body reading passes on to the one error handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import SAFE_METHODS, UNAUTHENTICATED, auth_enabled, credential

MIB = 1024 * 1024
#: An ordinary JSON or form body: a run config, a sweep's space, a page's form.
DEFAULT_BODY_BYTES = 1 * MIB
#: A batch capped by count: 100,000 metric points of up to ~330 bytes each (a 250-character key and a
#: timestamp), 200,000 predictions of ~160, 100,000 example ids to tag. Typical batches take a tenth.
BATCH_BODY_BYTES = 32 * MIB
_ATTRIBUTE = "max_body_bytes"
Endpoint = TypeVar("Endpoint", bound=Callable[..., object])


def body_limit(limit: int | None) -> Callable[[Endpoint], Endpoint]:
    """Decorate an endpoint (under its @router line) whose body may exceed DEFAULT_BODY_BYTES. None: the
    handler streams the body to disk and counts it against its own limit."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _ATTRIBUTE, limit)
        return endpoint

    return mark


def _limit_of(scope: Scope) -> int | None:
    return getattr(scope.get("endpoint"), _ATTRIBUTE, DEFAULT_BODY_BYTES)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, method: str, path: str) -> None:
        super().__init__(
            413, f"The request body is larger than the {limit / MIB:g} MiB limit of {method} {path}"
        )


class _GuardedReceive:
    """`receive` for one request: the checks before the first body message, then a running count."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope, self.receive = scope, receive
        self.limit: int | None = None
        self.started = False
        self.received = 0

    def _refuse(self) -> BodyTooLarge:
        assert self.limit is not None
        return BodyTooLarge(self.limit, self.scope["method"], self.scope["path"])

    def _before_first_read(self) -> None:
        scope = self.scope
        if scope["path"].startswith("/api/") and auth_enabled() and credential(Request(scope)) is None:
            raise HTTPException(401, UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
        self.limit = _limit_of(scope)
        declared = Headers(scope=scope).get("content-length", "")
        if (
            self.limit is not None
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > self.limit
        ):
            raise self._refuse()

    async def __call__(self) -> Message:
        if not self.started:
            self.started = True
            self._before_first_read()
        message = await self.receive()
        if message["type"] == "http.request" and self.limit is not None:
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise self._refuse()
        return message


class BodyGuardMiddleware:
    """Pure ASGI (see server/security.py for why): wraps each write request's `receive` in the guard."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # No handler reads a GET's body; a response may call receive() only to listen for a disconnect.
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _GuardedReceive(scope, receive), send)
