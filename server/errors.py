"""Domain errors and the one place that turns them into responses: JSON under /api, a page elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A refusal a service explains to the user; mapped once, below, to its status and message.

    (Not `trainboard.TrainboardError`, which the client library raises when the server refuses it.)
    """

    status_code = 400
    #: Seconds a client should wait before trying again (sent as Retry-After), for transient refusals.
    retry_after_s: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def detail(self) -> object:
        return self.message


class NotFound(DomainError):
    status_code = 404

    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} not found")


class Conflict(DomainError):
    status_code = 409


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    """The caller may see the thing but their role does not allow this change."""

    status_code = 403


class InvalidInput(DomainError):
    """Bad input found past schema validation; `loc` names the field as FastAPI's 422 does."""

    status_code = 422

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = list(loc)

    def detail(self) -> object:
        return [{"loc": self.loc, "msg": self.message, "type": "value_error"}]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def _page(
    request: Request, status: int, title: str, message: str, errors: list[str] | None = None
) -> Response:
    from server.templating import templates

    return templates.TemplateResponse(
        request=request,
        name="error.html",
        context={"status": status, "title": title, "message": message, "errors": errors or []},
        status_code=status,
    )


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The one error shape: `{"detail": message}` under /api, the error page elsewhere."""
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    response = _page(request, status, _TITLES.get(status, "Error"), message)
    response.headers.update(headers or {})
    return response


def _readable(errors: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        lines.append(f"{'.'.join(loc) or 'input'}: {error.get('msg')}")
    return lines


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to one JSON shape or one error page."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else {}
        if _wants_json(request):
            if exc.status_code == 401:
                headers["WWW-Authenticate"] = "Bearer"
            return JSONResponse({"detail": exc.detail()}, status_code=exc.status_code, headers=headers)
        response = _page(request, exc.status_code, _TITLES.get(exc.status_code, "Error"), exc.message)
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        if _wants_json(request):
            return JSONResponse({"detail": errors}, status_code=422)
        return _page(request, 422, "Invalid input", "Some fields need fixing.", _readable(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return _page(request, exc.status_code, _TITLES.get(exc.status_code, "Error"), str(exc.detail))

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        # A number the database cannot hold (an id past 64 bits, say): the request's fault, not ours.
        message = "A number in the request is larger than the database can store"
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=422)
        return _page(request, 422, "Invalid input", message)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        # The database is down, restarting or out of connections: a transient state clients retry (503),
        # not a bug (500). The pool pings connections before use, so the next request after it is back works.
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, reason[0])
        message = "The database is unavailable; try again shortly"
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "5"})
        return _page(request, 503, "Database unavailable", message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        if _wants_json(request):
            return JSONResponse({"detail": "Internal server error"}, status_code=500)
        return _page(request, 500, "Something went wrong", "The error was logged on the server.")


_TITLES = {
    400: "Bad request",
    401: "Log in needed",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Too many attempts",
    503: "Unavailable",
}
