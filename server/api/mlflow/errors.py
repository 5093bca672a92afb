"""MLflow's error shape, `{"error_code", "message"}`, for every refusal under the MLflow routes.

MLflow's client turns such a body into its usual `MlflowException`/`RestException` (a missing experiment is
`RESOURCE_DOES_NOT_EXIST`, which `get_experiment_by_name` reads as None), so the routes never answer
Trainboard's `{"detail"}` shape. `MlflowRoute` wraps each handler, its dependencies included (the bearer
token, the body's validation), and converts whatever they raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from server.api.mlflow.filter_grammar import FilterError
from server.auth import ApiAuth
from server.errors import DomainError, InvalidInput

logger = logging.getLogger(__name__)

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_STATE = "INVALID_STATE"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
# HTTP status per error code, as MLflow's server answers them.
_STATUS = {
    INVALID_PARAMETER_VALUE: 400,
    RESOURCE_DOES_NOT_EXIST: 404,
    RESOURCE_ALREADY_EXISTS: 400,
    INVALID_STATE: 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "REQUEST_LIMIT_EXCEEDED": 429,
    ENDPOINT_NOT_FOUND: 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}
# Trainboard's status codes as MLflow error codes.
_CODE_OF_STATUS = {
    400: INVALID_PARAMETER_VALUE,
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: RESOURCE_DOES_NOT_EXIST,
    409: INVALID_STATE,
    413: INVALID_PARAMETER_VALUE,
    422: INVALID_PARAMETER_VALUE,
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}


class MlflowError(Exception):
    """A refusal in MLflow's terms."""

    def __init__(self, error_code: str, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.error_code, self.message = error_code, message
        self.status_code = status_code or _STATUS.get(error_code, 400)


def invalid(message: str) -> MlflowError:
    return MlflowError(INVALID_PARAMETER_VALUE, message)


def not_found(message: str) -> MlflowError:
    return MlflowError(RESOURCE_DOES_NOT_EXIST, message)


def error_body(
    error_code: str, message: str, status_code: int, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error_code": error_code, "message": message}, status_code=status_code, headers=headers
    )


def _field(loc: list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "request"


def _validation_message(errors: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"Invalid value for {_field(list(e.get('loc', ())))!r}: {e.get('msg', '')}" for e in errors[:5]
    )


def as_response(exc: Exception) -> Response:
    """Any exception raised under the MLflow routes, in MLflow's shape (never a bare 500 page)."""
    if isinstance(exc, MlflowError):
        return error_body(exc.error_code, exc.message, exc.status_code)
    if isinstance(exc, FilterError):
        return error_body(INVALID_PARAMETER_VALUE, str(exc), 400)
    if isinstance(exc, RequestValidationError):
        return error_body(INVALID_PARAMETER_VALUE, _validation_message([dict(e) for e in exc.errors()]), 400)
    if isinstance(exc, ValidationError):  # a model built inside a handler from the query's values
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        return error_body(INVALID_PARAMETER_VALUE, _validation_message([dict(e) for e in errors]), 400)
    if isinstance(exc, InvalidInput):
        return error_body(
            INVALID_PARAMETER_VALUE, f"Invalid value for {_field(exc.loc)!r}: {exc.message}", 400
        )
    if isinstance(exc, DomainError):
        code = _CODE_OF_STATUS.get(exc.status_code, INVALID_PARAMETER_VALUE)
        status = exc.status_code if exc.status_code in (401, 403, 404, 413, 429, 503) else _STATUS[code]
        headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
        return error_body(code, exc.message, status, headers)
    if isinstance(exc, HTTPException):
        code = _CODE_OF_STATUS.get(exc.status_code, INVALID_PARAMETER_VALUE)
        return error_body(code, str(exc.detail), exc.status_code, dict(exc.headers or {}) or None)
    if isinstance(exc, (OverflowError, DataError)):
        return error_body(
            INVALID_PARAMETER_VALUE, "A number in the request is larger than the database can store", 400
        )
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        message = "The database is unavailable; try again shortly"
        return error_body("TEMPORARILY_UNAVAILABLE", message, 503, {"Retry-After": "5"})
    logger.exception("unhandled error under the MLflow API", exc_info=exc)
    return error_body("INTERNAL_ERROR", "Internal server error", 500)


class MlflowRoute(APIRoute):
    """A route whose errors, its dependencies' included, come back in MLflow's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every refusal, converted once; unexpected ones are logged
                return as_response(exc)

        return handle


async def refuse_workers(principal: ApiAuth) -> None:
    """Router dependency: a worker token trains runs, nothing else; MLflow's API is for people's scripts."""
    if principal.kind == "worker":
        raise MlflowError("PERMISSION_DENIED", "A worker token cannot use the MLflow API: use a user's token")
