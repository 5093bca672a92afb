"""The OpenAPI document and the interactive API docs, behind the same login as everything else.

FastAPI serves them to anyone; with auth on they describe the whole API, so they need a logged-in session
or a token like the rest (the docs pages redirect to /login, /openapi.json answers 401)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from server.access import ApiAccess
from server.pages.common import PageAuth, PageRoute

OPENAPI_URL = "/openapi.json"
TITLE = "Trainboard API"

schema_router = APIRouter(include_in_schema=False, dependencies=[ApiAccess])
router = APIRouter(route_class=PageRoute, include_in_schema=False, dependencies=[PageAuth])


@schema_router.get(OPENAPI_URL)
def read_openapi(request: Request) -> JSONResponse:
    """The OpenAPI document of the API (a token or a logged-in session, with auth on)."""
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def read_swagger_docs() -> HTMLResponse:
    """Swagger UI over the OpenAPI document."""
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=TITLE)


@router.get("/redoc")
def read_redoc() -> HTMLResponse:
    """ReDoc over the OpenAPI document."""
    return get_redoc_html(openapi_url=OPENAPI_URL, title=TITLE)
