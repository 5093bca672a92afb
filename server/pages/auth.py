"""Log in with a username and password (only when auth is enabled) and log out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from pydantic import BaseModel

from server.auth import SESSION_COOKIE, SESSION_SECONDS, auth_enabled, make_session_cookie, session_user
from server.db import SessionDep
from server.pages.common import FormErrors, PageRoute, check_csrf, redirect, render, safe_next
from server.schemas import NoNul, Text
from server.services import accounts
from server.tables import User
from server.throttle import LoginThrottle

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
    username = form.username.strip()
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else ""
    # Checked before the password is hashed: a flood of guesses costs neither 64 MiB nor 90 ms each.
    wait = throttle.retry_after(username, address, time.monotonic())
    if wait is not None:
        message = f"Too many failed logins: try again in {wait} seconds."
        return _login_failed(request, target, form.username, message, status=429, retry_after=wait)
    user = accounts.authenticate(session=session, username=username, password=form.password)
    if user is None:
        throttle.failed(username, address, time.monotonic())
        # One message for an unknown user, a wrong password and a disabled account: no hint which it was.
        message = "that username and password do not match an account."
        return _login_failed(request, target, form.username, message, status=401)
    throttle.succeeded(username)
    response = redirect(target, f"Logged in as {user.username}.")
    set_session_cookie(request, response, user)
    return response


def _login_failed(
    request: Request, target: str, username: str, message: str, *, status: int, retry_after: int | None = None
) -> Response:
    errors = FormErrors()
    errors.add("password", f"Password (password): {message}")
    context = LoginContext(next=target, username=username[:100], errors=errors)
    response = render(request, "login.html", context, status_code=status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def set_session_cookie(request: Request, response: Response, user: User) -> None:
    """Log `user` in on this browser: HttpOnly, SameSite=Lax, and Secure when the request came over https."""
    response.set_cookie(
        SESSION_COOKIE,
        make_session_cookie(user),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the session on the server (every session of the user: a copied cookie stops working too)
    and forget the cookie."""
    check_csrf(request, csrf_token)
    user = session_user(session, request.cookies.get(SESSION_COOKIE))
    if user is not None:
        accounts.end_sessions(session=session, user=user)
    response = redirect("/login" if auth_enabled() else "/", "Logged out.", level="info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
