"""Security headers on every response (a CSP without inline scripts, no sniffing, no framing), and the
refusal of requests that come from another site or, with auth off, name another host."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import error_response
from trainboard.settings import get_settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
_CSP = (b"content-security-policy", CSP.encode())
_ALL = (*_HEADERS, _CSP)


class SecurityHeadersMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware, whose task and stream per request cost ~1 ms): adds the
    headers to the response start message, keeping any a route already set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _ALL  # the API docs too: their pages load no CDN and run no inline script

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ---------------------------------------------------------------- where a request comes from

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Sec-Fetch-Site values of a request this site's own pages (or the user, typing a URL) made.
OWN_SITE = frozenset({"same-origin", "none"})


def cross_site_refusal(method: str, headers: Headers) -> str | None:
    """Why a browser's write from another origin is refused, or None for one this site's pages made.

    Browsers say where a request comes from: Sec-Fetch-Site (every current browser, on https and
    localhost), else Origin. A request with neither is no browser's cross-origin request (curl, scripts,
    the client library, the worker). Another port of the same host counts as another origin: it is one."""
    if method not in UNSAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None:
        return None if site in OWN_SITE else f"a {site} request may not change anything here"
    origin = headers.get("origin")
    if origin is None or urlsplit(origin).netloc.lower() == headers.get("host", "").lower():
        return None
    return f"a request from {origin[:100]} may not change anything here"


def is_loopback_name(name: str) -> bool:
    """localhost (and *.localhost), 127.x.y.z, ::1 or [::1]: names that never leave this machine."""
    name = name.lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """A Host header (name, optionally with :port) that names this machine's loopback."""
    name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not name or not port.isdigit():  # no port, or a bare IPv6 address
        name = host
    return is_loopback_name(name)


def host_refusal(scope: Scope, headers: Headers) -> str | None:
    """With auth off, a server listening on loopback answers only to loopback names (no DNS rebinding).

    A page on evil.example whose name the attacker re-points at 127.0.0.1 is same-origin with itself, so
    the browser lets its scripts read and write this server: its Host header still says evil.example."""
    server = scope.get("server")
    host = headers.get("host")
    if host is None or not server or not is_loopback_name(str(server[0])) or is_loopback_host(host):
        return None
    if get_settings().auth_enabled:  # cookies and tokens are per name: the attacker's page has neither
        return None
    return (
        f"this server answers to localhost, 127.0.0.1 and [::1] only, not to {host[:100]!r} "
        "(with auth off it trusts whoever reaches it, so it refuses other names: DNS rebinding)"
    )


class RequestOriginMiddleware:
    """Refuses cross-site writes (403) and, with auth off, requests for another host name (400)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            status, reason = 400, host_refusal(scope, headers)
            if reason is None:
                status, reason = 403, cross_site_refusal(scope["method"], headers)
            if reason is not None:
                response = error_response(Request(scope), status, f"Refused: {reason}.")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
