"""Accounts: users, tokens, project members; run artifacts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from server.schemas.common import Text, UTCDatetime

Role = Literal["owner", "editor", "viewer"]
TokenKind = Literal["user", "worker"]
Username = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@\-]+$")]
Password = Annotated[str, Field(min_length=8, max_length=200)]


class MeRead(BaseModel):
    """Who is calling: a user, a worker, or everyone when auth is off (then an administrator)."""

    kind: Literal["anonymous", "user", "worker"]
    user_id: int | None
    username: str | None
    is_admin: bool
    auth_enabled: bool


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    is_admin: bool = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_admin: bool | None = None
    disabled: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    is_admin: bool
    disabled: bool
    created_at: UTCDatetime


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=200)
    new_password: Password


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    kind: TokenKind = Field(default="user", description="'worker' (admins only): a token for workers.")


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: TokenKind
    prefix: str = Field(description="The token's first 8 characters, to tell tokens apart.")
    created_at: UTCDatetime
    last_used_at: UTCDatetime | None
    revoked_at: UTCDatetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The token itself: shown this once, stored only as a hash.")


class MemberSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberRead(BaseModel):
    user_id: int
    username: str
    role: Role


class ArtifactRead(BaseModel):
    """One file a run stored."""

    model_config = ConfigDict(from_attributes=True)

    path: str
    size: int
    sha256: str
