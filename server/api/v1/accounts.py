"""Who am I, my API tokens, users (admins) and a project's members (owners)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from server.access import ProjectOwner
from server.api.deps import IdPath
from server.auth import AdminAuth, ApiAuth, auth_enabled, require_admin, require_auth_on, require_user
from server.db import SessionDep
from server.ids import MAX_ID
from server.schemas import (
    MemberRead,
    MemberSet,
    MeRead,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenKind,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from server.services import accounts

router = APIRouter(tags=["accounts"])
UserIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A user's id.")]


@router.get("/me")
def read_me(principal: ApiAuth) -> MeRead:
    """The caller: a user, a worker, or (auth off) an anonymous administrator."""
    return MeRead(
        kind=principal.kind,
        user_id=principal.user_id,
        username=principal.username,
        is_admin=principal.is_admin,
        auth_enabled=auth_enabled(),
    )


@router.put("/me/password", status_code=204)
def change_password(data: PasswordChange, session: SessionDep, principal: ApiAuth) -> Response:
    """Set a new password; the current one must be given."""
    user = accounts.get_user(session=session, user_id=require_user(principal))
    accounts.change_password(session=session, user=user, current=data.current_password, new=data.new_password)
    return Response(status_code=204)


@router.post("/tokens", status_code=201)
def create_token(data: TokenCreate, session: SessionDep, principal: ApiAuth) -> TokenCreated:
    """A new API token, shown in this reply only; `kind: worker` (admins) makes one for training workers."""
    if data.kind == "worker":
        require_auth_on()
        require_admin(principal)
        user_id = None
    else:
        user_id = require_user(principal)
    new = accounts.create_token(session=session, name=data.name, kind=data.kind, user_id=user_id)
    return TokenCreated(**TokenRead.model_validate(new.row).model_dump(), token=new.token)


@router.get("/tokens")
def read_tokens(session: SessionDep, principal: ApiAuth, kind: TokenKind = "user") -> list[TokenRead]:
    """Your tokens (or, for admins, with kind=worker, the worker tokens); revoked ones included."""
    user_id = None
    if kind == "worker":
        require_admin(principal)
    else:
        user_id = require_user(principal)
    rows = accounts.list_tokens(session=session, user_id=user_id, kind=kind)
    return [TokenRead.model_validate(row) for row in rows]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(
    token_id: IdPath, session: SessionDep, principal: ApiAuth, kind: TokenKind = "user"
) -> Response:
    """Revoke one of your tokens (admins: a worker token, with kind=worker); it stops working at once."""
    if kind == "worker":
        require_admin(principal)
        accounts.revoke_token(session=session, token_id=token_id, user_id=None, kind="worker")
    else:
        accounts.revoke_token(session=session, token_id=token_id, user_id=require_user(principal))
    return Response(status_code=204)


@router.get("/users")
def read_users(session: SessionDep, _: AdminAuth) -> list[UserRead]:
    """Every account (admins only)."""
    return [UserRead.model_validate(user) for user in accounts.list_users(session=session)]


@router.post("/users", status_code=201)
def create_user(data: UserCreate, session: SessionDep, _: AdminAuth) -> UserRead:
    """A new account (admins only; auth on)."""
    require_auth_on()
    user = accounts.create_user(
        session=session, username=data.username, password=data.password, is_admin=data.is_admin
    )
    return UserRead.model_validate(user)


@router.patch("/users/{user_id}")
def update_user(user_id: UserIdPath, data: UserUpdate, session: SessionDep, _: AdminAuth) -> UserRead:
    """Make a user an administrator (or not), disable or enable them (admins only; auth on)."""
    require_auth_on()
    user = accounts.update_user(
        session=session, user_id=user_id, is_admin=data.is_admin, disabled=data.disabled
    )
    return UserRead.model_validate(user)


@router.get("/projects/{project_id}/members")
def read_members(project_id: IdPath, session: SessionDep, _: ProjectOwner) -> list[MemberRead]:
    """The project's members and their roles (owners)."""
    return accounts.list_members(session=session, project_id=project_id)


@router.put("/projects/{project_id}/members/{user_id}")
def set_member(
    project_id: IdPath, user_id: UserIdPath, data: MemberSet, session: SessionDep, _: ProjectOwner
) -> MemberRead:
    """Add a user to the project with a role, or change their role (owners; auth on)."""
    require_auth_on()
    return accounts.set_member(session=session, project_id=project_id, user_id=user_id, role=data.role)


@router.delete("/projects/{project_id}/members/{user_id}", status_code=204)
def remove_member(project_id: IdPath, user_id: UserIdPath, session: SessionDep, _: ProjectOwner) -> Response:
    """Remove a user from the project (owners; auth on); the last owner cannot leave."""
    require_auth_on()
    accounts.remove_member(session=session, project_id=project_id, user_id=user_id)
    return Response(status_code=204)
