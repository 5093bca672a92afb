"""Account pages: your password and API tokens, the admins' users page, and a project's members page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Request, Response
from pydantic import BaseModel, ValidationError

from server import access
from server.api.deps import IdPath
from server.auth import SESSION_COOKIE, Principal, require_admin, require_auth_on, require_user
from server.db import SessionDep
from server.errors import Conflict, InvalidInput, NotFound
from server.ids import MAX_ID
from server.pages.auth import set_session_cookie
from server.pages.common import PageAuth, PagePrincipal, PageRoute, check_csrf, redirect, render
from server.schemas import MemberRead, PasswordChange, ProjectRead, Text, TokenRead, UserCreate, UserRead
from server.services import accounts, projects

router = APIRouter(route_class=PageRoute, dependencies=[PageAuth])
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _admin(principal: PagePrincipal) -> Principal:
    # A dependency, so that a non-admin is refused before the form is even read.
    require_admin(principal)
    return principal


PageAdmin = Annotated[Principal, Depends(_admin)]


class CsrfForm(BaseModel):
    csrf_token: str = ""


class PasswordForm(CsrfForm):
    current_password: str = ""
    new_password: str = ""


class TokenForm(CsrfForm):
    name: Text = ""


class UserForm(CsrfForm):
    username: Text = ""
    password: str = ""
    is_admin: bool = False


class UserActionForm(CsrfForm):
    action: Literal["disable", "enable", "make_admin", "remove_admin"]


class MemberForm(CsrfForm):
    username: Text = ""
    role: Literal["owner", "editor", "viewer"] = "viewer"


class MemberActionForm(CsrfForm):
    role: Literal["owner", "editor", "viewer", "remove"]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'input'}: {error['msg']}"


# ---------------------------------------------------------------- your account


@dataclass
class AccountContext:
    principal: Principal
    tokens: list[TokenRead]
    new_token: str | None = None


def _account(
    request: Request, session: SessionDep, principal: Principal, new_token: str | None = None
) -> Response:
    rows = accounts.list_tokens(session=session, user_id=principal.user_id) if principal.user_id else []
    context = AccountContext(principal, [TokenRead.model_validate(r) for r in rows], new_token)
    return render(request, "accounts/account.html", context, status_code=201 if new_token else 200)


@router.get("/account")
def read_account(request: Request, session: SessionDep, principal: PagePrincipal) -> Response:
    """Who you are, the password form, and your API tokens."""
    return _account(request, session, principal)


@router.post("/account/password")
def change_password(
    request: Request, session: SessionDep, principal: PagePrincipal, form: Annotated[PasswordForm, Form()]
) -> Response:
    """Set a new password (the current one must be given)."""
    check_csrf(request, form.csrf_token)
    user = accounts.get_user(session=session, user_id=require_user(principal))
    try:
        data = PasswordChange(current_password=form.current_password, new_password=form.new_password)
        accounts.change_password(
            session=session, user=user, current=data.current_password, new=data.new_password
        )
    except ValidationError as exc:
        return redirect("/account", _first_error(exc), "error")
    except InvalidInput as exc:
        label = "Current password" if exc.loc[-1] == "current_password" else "New password"
        return redirect("/account", f"{label} ({exc.loc[-1]}): {exc.message}", "error")
    # The new password voids every session cookie issued before it; this browser gets a fresh one.
    response = redirect("/account", "Password changed. Every other session of yours has been logged out.")
    if request.cookies.get(SESSION_COOKIE):
        set_session_cookie(request, response, user)
    return response


@router.post("/account/tokens")
def create_token(
    request: Request, session: SessionDep, principal: PagePrincipal, form: Annotated[TokenForm, Form()]
) -> Response:
    """Make an API token and show it this once."""
    check_csrf(request, form.csrf_token)
    user_id = require_user(principal)
    name = form.name.strip()[:100] or "token"
    new = accounts.create_token(session=session, name=name, kind="user", user_id=user_id)
    return _account(request, session, principal, new_token=new.token)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request,
    token_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    form: Annotated[CsrfForm, Form()],
) -> Response:
    """Revoke one of your tokens: it stops working at once."""
    check_csrf(request, form.csrf_token)
    accounts.revoke_token(session=session, token_id=token_id, user_id=require_user(principal))
    return redirect("/account", f"Token {token_id} revoked.")


# ---------------------------------------------------------------- users (admins)


@dataclass
class UsersContext:
    users: list[UserRead]
    worker_tokens: list[TokenRead]
    new_token: str | None = None


def _users(request: Request, session: SessionDep, new_token: str | None = None) -> Response:
    users = [UserRead.model_validate(u) for u in accounts.list_users(session=session)]
    rows = accounts.list_tokens(session=session, user_id=None, kind="worker")
    context = UsersContext(users, [TokenRead.model_validate(r) for r in rows], new_token)
    return render(request, "accounts/users.html", context, status_code=201 if new_token else 200)


@router.get("/users")
def read_users(request: Request, session: SessionDep, principal: PageAdmin) -> Response:
    """Every account, the form that creates one, and the worker tokens (admins)."""
    return _users(request, session)


@router.post("/users")
def create_user(
    request: Request, session: SessionDep, principal: PageAdmin, form: Annotated[UserForm, Form()]
) -> Response:
    """Create an account (admins; auth on)."""
    check_csrf(request, form.csrf_token)
    require_auth_on()
    try:
        data = UserCreate(username=form.username.strip(), password=form.password, is_admin=form.is_admin)
        user = accounts.create_user(
            session=session, username=data.username, password=data.password, is_admin=data.is_admin
        )
    except ValidationError as exc:
        return redirect("/users", _first_error(exc), "error")
    except InvalidInput as exc:
        return redirect("/users", f"Password ({exc.loc[-1]}): {exc.message}", "error")
    except Conflict as exc:
        return redirect("/users", exc.message, "error")
    return redirect("/users", f"User {user.username!r} created.")


@router.post("/users/{user_id}")
def act_on_user(
    request: Request,
    user_id: UserId,
    session: SessionDep,
    principal: PageAdmin,
    form: Annotated[UserActionForm, Form()],
) -> Response:
    """Disable or enable a user, make them admin or not (admins; auth on)."""
    check_csrf(request, form.csrf_token)
    require_auth_on()
    if user_id == principal.user_id and form.action in ("disable", "remove_admin"):
        return redirect("/users", "You cannot disable yourself or drop your own admin rights.", "error")
    changes = {
        "disable": {"disabled": True},
        "enable": {"disabled": False},
        "make_admin": {"is_admin": True},
        "remove_admin": {"is_admin": False},
    }[form.action]
    try:
        user = accounts.update_user(session=session, user_id=user_id, **changes)
    except Conflict as exc:
        return redirect("/users", exc.message, "error")
    return redirect("/users", f"User {user.username!r} updated.")


@router.post("/users/worker-tokens/new")
def create_worker_token(
    request: Request, session: SessionDep, principal: PageAdmin, form: Annotated[TokenForm, Form()]
) -> Response:
    """Make a worker token (for TRAINBOARD_API_TOKEN on GPU machines) and show it this once (auth on)."""
    check_csrf(request, form.csrf_token)
    require_auth_on()
    new = accounts.create_token(
        session=session, name=form.name.strip()[:100] or "worker", kind="worker", user_id=None
    )
    return _users(request, session, new_token=new.token)


@router.post("/users/worker-tokens/{token_id}/revoke")
def revoke_worker_token(
    request: Request,
    token_id: IdPath,
    session: SessionDep,
    principal: PageAdmin,
    form: Annotated[CsrfForm, Form()],
) -> Response:
    """Revoke a worker token (admins)."""
    check_csrf(request, form.csrf_token)
    accounts.revoke_token(session=session, token_id=token_id, user_id=None, kind="worker")
    return redirect("/users", f"Worker token {token_id} revoked.")


# ---------------------------------------------------------------- project members (owners)


@dataclass
class MembersContext:
    project: ProjectRead
    members: list[MemberRead]
    roles: tuple[str, ...] = field(default=("owner", "editor", "viewer"))


@router.get("/projects/{project_id}/members")
def read_members(
    request: Request, project_id: IdPath, session: SessionDep, principal: PagePrincipal
) -> Response:
    """Who may see and change the project, and the form that adds someone (owners)."""
    access.check_project(session, principal, project_id, access.OWNER)
    project = projects.to_read(projects.get_project(session=session, project_id=project_id))
    context = MembersContext(project, accounts.list_members(session=session, project_id=project_id))
    return render(request, "accounts/members.html", context)


@router.post("/projects/{project_id}/members")
def add_member(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    principal: PagePrincipal,
    form: Annotated[MemberForm, Form()],
) -> Response:
    """Add a user by username with a role, or change the role of one already there (owners; auth on)."""
    check_csrf(request, form.csrf_token)
    require_auth_on()
    access.check_project(session, principal, project_id, access.OWNER)
    back = f"/projects/{project_id}/members"
    user = accounts.find_user(session=session, username=form.username.strip())
    if user is None:
        return redirect(
            back, f"Username (username): no user is called {form.username.strip()[:100]!r}.", "error"
        )
    try:
        accounts.set_member(session=session, project_id=project_id, user_id=user.id, role=form.role)
    except Conflict as exc:
        return redirect(back, exc.message, "error")
    return redirect(back, f"{user.username} is now {form.role} of this project.")


@router.post("/projects/{project_id}/members/{user_id}")
def change_member(
    request: Request,
    project_id: IdPath,
    user_id: UserId,
    session: SessionDep,
    principal: PagePrincipal,
    form: Annotated[MemberActionForm, Form()],
) -> Response:
    """Change a member's role, or remove them (owners; auth on)."""
    check_csrf(request, form.csrf_token)
    require_auth_on()
    access.check_project(session, principal, project_id, access.OWNER)
    back = f"/projects/{project_id}/members"
    try:
        if form.role == "remove":
            accounts.remove_member(session=session, project_id=project_id, user_id=user_id)
            return redirect(back, "Member removed.")
        accounts.set_member(session=session, project_id=project_id, user_id=user_id, role=form.role)
    except (Conflict, NotFound) as exc:
        return redirect(back, exc.message, "error")
    return redirect(back, f"Role changed to {form.role}.")
