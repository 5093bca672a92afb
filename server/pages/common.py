"""What every page shares: the login guard, CSRF tokens, flash messages, rendering and form errors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError

from server.access import authorize
from server.auth import CSRF_COOKIE, Principal, auth_enabled, csrf_is_valid, identify, new_csrf_token
from server.db import SessionDep
from server.templating import templates

FLASH_COOKIE = "tb_flash"
FLASH_LEVELS = ("success", "info", "warning", "error")


class LoginRequired(Exception):
    """Raised by the page guard; PageRoute turns it into a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageRoute(APIRoute):
    """An APIRoute whose handler answers LoginRequired with a 303 to the login page.

    The app's error handlers render every HTTPException as a page and drop its headers, so a redirect raised
    from a dependency has to be caught here, around the handler that resolves the dependencies.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return RedirectResponse("/login?" + urlencode({"next": exc.next_url}), status_code=303)

        return guarded


def require_login(request: Request, session: SessionDep) -> Principal:
    """Page dependency: redirect to /login unless auth is off or the request is authenticated; then every
    id in the URL must be one the caller may see (and change, for a POST)."""
    principal = identify(request, session)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    request.state.principal = principal
    return authorize(request, principal, session)


PageAuth = Depends(require_login)
#: The logged-in caller, for handlers that filter or record by user (the router's PageAuth checked it).
PagePrincipal = Annotated[Principal, Depends(require_login)]


def safe_next(url: str | None) -> str:
    """Only same-site paths are followed after login (no //evil.example, no scheme)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


# ---------------------------------------------------------------- CSRF


def csrf_token(request: Request) -> str:
    """The token forms carry: the one in the cookie, or a new one that render() will set."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = new_csrf_token()
        request.state.new_csrf = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """403 unless the form's csrf_token matches the tb_csrf cookie (double-submit)."""
    if not csrf_is_valid(request, submitted):
        raise HTTPException(
            status_code=403,
            detail="The form's security token is missing or stale. Reload the page and submit it again.",
        )


async def read_form(request: Request) -> dict[str, str]:
    """The submitted form as plain strings (for forms whose inputs depend on the data, e.g. new run)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


FormData = Annotated[dict[str, str], Depends(read_form)]


# ---------------------------------------------------------------- flash messages


def redirect(url: str, message: str | None = None, level: str = "success") -> RedirectResponse:
    """A 303 redirect (POST -> GET), optionally carrying a one-shot flash message."""
    response = RedirectResponse(url, status_code=303)
    if message:
        payload = json.dumps([level if level in FLASH_LEVELS else "info", message[:500]])
        value = base64.urlsafe_b64encode(payload.encode()).decode()
        response.set_cookie(FLASH_COOKIE, value, max_age=60, httponly=True, samesite="lax", path="/")
    return response


@dataclass(frozen=True)
class Flash:
    level: str
    text: str


def pop_flash(request: Request) -> list[Flash]:
    """The flash message the previous redirect left, if any (render() deletes the cookie)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        level, text = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError, binascii.Error):
        return []
    if level not in FLASH_LEVELS or not isinstance(text, str):
        return []
    return [Flash(level=level, text=text)]


# ---------------------------------------------------------------- rendering


def render(request: Request, name: str, context: Any, status_code: int = 200) -> Response:
    """Render a page: the context (a dataclass) plus CSRF token, flash messages and auth state."""
    values: dict[str, Any] = (
        {f.name: getattr(context, f.name) for f in fields(context)}
        if is_dataclass(context)
        else dict(context)
    )
    values.update(
        csrf_token=csrf_token(request),
        messages=pop_flash(request),
        auth_enabled=auth_enabled(),
        principal=getattr(request.state, "principal", None),
    )
    response = templates.TemplateResponse(request=request, name=name, context=values, status_code=status_code)
    new_token = getattr(request.state, "new_csrf", None)
    if new_token:
        secure = request.url.scheme == "https"
        response.set_cookie(CSRF_COOKIE, new_token, httponly=True, samesite="lax", secure=secure, path="/")
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def url_with(path: str, params: Mapping[str, object]) -> str:
    """`path?query` with the params that are set (None and "" are left out)."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{path}?{query}" if query else path


# ---------------------------------------------------------------- form errors


@dataclass
class FormErrors:
    """Messages for the top of a form, and the same messages keyed by the input they belong to."""

    messages: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def add(self, input_name: str, message: str) -> None:
        self.messages.append(message)
        self.fields.setdefault(input_name, message)

    def __bool__(self) -> bool:
        return bool(self.messages)


def validation_errors(
    exc: ValidationError,
    *,
    input_for: Callable[[tuple[str | int, ...]], str],
    label_for: Callable[[str], str],
    skip: Collection[str] = (),
) -> FormErrors:
    """Turn a pydantic ValidationError into messages naming the field: "Learning rate (hparams.lr): ..."."""
    errors = FormErrors()
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part not in skip)
        path = ".".join(str(part) for part in loc if not isinstance(part, int)) or "input"
        message = error["msg"].removeprefix("Value error, ")
        input_name = input_for(loc)
        label = label_for(input_name)
        errors.add(input_name, f"{label} ({path}): {message}" if label else f"{path}: {message}")
    return errors
