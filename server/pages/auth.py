"""Log in with the API token (only when auth is enabled) and log out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import BaseModel

from server.auth import SESSION_COOKIE, SESSION_SECONDS, auth_enabled, make_session_cookie, token_is_valid
from server.pages.common import FormErrors, PageRoute, check_csrf, redirect, render, safe_next

router = APIRouter(route_class=PageRoute)


class LoginForm(BaseModel):
    csrf_token: str = ""
    token: str = ""
    next: str = "/"


@dataclass
class LoginContext:
    next: str
    errors: FormErrors = field(default_factory=FormErrors)


@router.get("/login")
def read_login(request: Request, next: Annotated[str, Query(max_length=2000)] = "/") -> Response:
    """The token form; with auth off there is nothing to log in to, so go straight on."""
    if not auth_enabled():
        return redirect(safe_next(next))
    return render(request, "login.html", LoginContext(next=safe_next(next)))


@router.post("/login")
def login(request: Request, form: Annotated[LoginForm, Form()]) -> Response:
    """Check the token; on success set the signed session cookie (HttpOnly, SameSite=Lax)."""
    check_csrf(request, form.csrf_token)
    target = safe_next(form.next)
    if not auth_enabled():
        return redirect(target)
    if not token_is_valid(form.token.strip()):
        errors = FormErrors()
        errors.add(
            "token", "API token (token): that token is not valid. Use the server's TRAINBOARD_API_TOKEN."
        )
        return render(request, "login.html", LoginContext(next=target, errors=errors), status_code=401)
    response = redirect(target, "Logged in.")
    response.set_cookie(
        SESSION_COOKIE,
        make_session_cookie(),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    """Forget the session cookie."""
    check_csrf(request, csrf_token)
    response = redirect("/login" if auth_enabled() else "/", "Logged out.", level="info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
