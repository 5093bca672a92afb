"""The OpenAPI document and the interactive API docs, behind the same login as everything else.

FastAPI serves them to anyone; with auth on they describe the whole API, so they need a logged-in session
or a token like the rest (the docs pages redirect to /login, /openapi.json answers 401).

Swagger UI and ReDoc come from the `fastapi-offline` package (its static folder ships both bundles), served
under /static/apidocs: the pages work with no internet and under the same CSP as every other page (no
inline script: server/static/apidocs.js starts them)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from server.access import ApiAccess
from server.pages.common import PageAuth, PageRoute

OPENAPI_URL = "/openapi.json"
TITLE = "Trainboard API"
#: Swagger UI's and ReDoc's files, as the package ships them (mounted at /static/apidocs by create_app).
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/static/apidocs"

#: ReDoc's bundle draws its "API docs by Redocly" logo from a CDN: served from here, it shows the site's own.
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_URL = f"{ASSETS_URL}/redoc.standalone.js"

schema_router = APIRouter(include_in_schema=False, dependencies=[ApiAccess])
router = APIRouter(route_class=PageRoute, include_in_schema=False, dependencies=[PageAuth])


def _page(body: str, head: str = "") -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{TITLE}</title><link rel='icon' href='{ASSETS_URL}/favicon.png'>{head}</head>"
        f"<body>{body}<script src='/static/apidocs.js' data-openapi-url='{OPENAPI_URL}'></script>"
        "</body></html>"
    )


@schema_router.get(OPENAPI_URL)
def read_openapi(request: Request) -> JSONResponse:
    """The OpenAPI document of the API (a token or a logged-in session, with auth on)."""
    return JSONResponse(request.app.openapi())


@router.get("/docs")
def read_swagger_docs() -> HTMLResponse:
    """Swagger UI over the OpenAPI document."""
    return _page(
        f"<div id='swagger-ui'></div><script src='{ASSETS_URL}/swagger-ui-bundle.js'></script>",
        head=f"<link rel='stylesheet' href='{ASSETS_URL}/swagger-ui.css'>",
    )


@router.get("/redoc")
def read_redoc() -> HTMLResponse:
    """ReDoc over the OpenAPI document."""
    return _page(f"<div id='redoc'></div><script src='{REDOC_URL}'></script>")


@cache
def _redoc_bundle() -> bytes:
    return (ASSETS_DIR / "redoc.standalone.js").read_bytes().replace(REDOC_CDN_LOGO, b"/static/logo.svg")


@router.get(REDOC_URL)
def read_redoc_bundle() -> Response:
    """ReDoc's bundle with its one CDN address (a logo) pointing at this site (read once per process).

    Behind the login like /redoc itself; included before the /static/apidocs mount, so it answers first."""
    headers = {"cache-control": "public, max-age=3600"}
    return Response(_redoc_bundle(), media_type="text/javascript", headers=headers)
