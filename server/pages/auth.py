"""Log in with a username and password (only when auth is enabled) and log out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import BaseModel

from server.auth import SESSION_COOKIE, SESSION_SECONDS, auth_enabled, make_session_cookie
from server.db import SessionDep
from server.pages.common import FormErrors, PageRoute, check_csrf, redirect, render, safe_next
from server.schemas import NoNul, Text
from server.services import accounts
from server.tables import User

router = APIRouter(route_class=PageRoute)


class LoginForm(BaseModel):
    csrf_token: str = ""
    username: Text = ""
    password: str = ""
    next: Text = "/"


@dataclass
class LoginContext:
    next: str
    username: str = ""
    errors: FormErrors = field(default_factory=FormErrors)


@router.get("/login")
def read_login(request: Request, next: Annotated[str, Query(max_length=2000), NoNul] = "/") -> Response:
    """The login form; with auth off there is nothing to log in to, so go straight on."""
    if not auth_enabled():
        return redirect(safe_next(next))
    return render(request, "login.html", LoginContext(next=safe_next(next)))


@router.post("/login")
def login(request: Request, session: SessionDep, form: Annotated[LoginForm, Form()]) -> Response:
    """Check the password; on success set the signed session cookie (HttpOnly, SameSite=Lax)."""
    check_csrf(request, form.csrf_token)
    target = safe_next(form.next)
    if not auth_enabled():
        return redirect(target)
    user = accounts.authenticate(session=session, username=form.username.strip(), password=form.password)
    if user is None:
        errors = FormErrors()
        # One message for an unknown user, a wrong password and a disabled account: no hint which it was.
        errors.add("password", "Password (password): that username and password do not match an account.")
        context = LoginContext(next=target, username=form.username[:100], errors=errors)
        return render(request, "login.html", context, status_code=401)
    response = redirect(target, f"Logged in as {user.username}.")
    set_session_cookie(request, response, user)
    return response


def set_session_cookie(request: Request, response: Response, user: User) -> None:
    """Log `user` in on this browser: HttpOnly, SameSite=Lax, and Secure when the request came over https."""
    response.set_cookie(
        SESSION_COOKIE,
        make_session_cookie(user.id, user.password_hash),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    """Forget the session cookie."""
    check_csrf(request, csrf_token)
    response = redirect("/login" if auth_enabled() else "/", "Logged out.", level="info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
