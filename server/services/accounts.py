"""Accounts: users and their argon2 password hashes, API tokens kept as SHA-256, and project members."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import Conflict, DomainError, InvalidInput, NotFound
from server.passwords import password_problem
from server.schemas import MemberRead, Role, TokenKind, as_utc
from server.services.upsert import insert_for
from server.tables import ApiToken, Project, ProjectMember, User

ADMIN_USERNAME = "admin"
TOKEN_PREFIX = "tb_"
ROLE_RANK: dict[str, int] = {"viewer": 1, "editor": 2, "owner": 3}
#: last_used_at is refreshed at most this often, so a worker's metric batches do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_hasher = PasswordHasher()
#: Each argon2 hash takes 64 MiB (the library's memory cost) and ~90 ms of CPU: at most this many run at
#: once in a process, so a flood of logins waits instead of growing the server by 64 MiB a request.
MAX_CONCURRENT_HASHES = 2
#: How long a request waits for a free hashing slot before it is answered 503 (try again).
HASH_WAIT_S = 10.0
_hashing = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)


class Busy(DomainError):
    """Every hashing slot stayed taken for HASH_WAIT_S."""

    status_code = 503
    retry_after_s = 5


@contextmanager
def _hashing_slot() -> Iterator[None]:
    if not _hashing.acquire(timeout=HASH_WAIT_S):
        raise Busy("The server is busy checking passwords: try again in a few seconds")
    try:
        yield
    finally:
        _hashing.release()


@cache
def _dummy_hash() -> str:
    """Verified when the username is unknown, so a login takes as long whether or not the user exists.

    Made on first use, not at import: an argon2 hash costs ~90 ms, which every process importing the
    server would otherwise pay at start-up."""
    return hash_password(secrets.token_hex(16))


def hash_token(token: str) -> str:
    """Tokens are only ever compared by their SHA-256, so none is held in the clear."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    with _hashing_slot():
        return _hasher.hash(password)


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        with _hashing_slot():
            return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- users


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("User", user_id)
    return user


def find_user(*, session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    """The enabled user with this username and password, else None (a disabled account cannot log in)."""
    user = find_user(session=session, username=username)
    if user is None:
        _password_matches(_dummy_hash(), password)
        return None
    if not _password_matches(user.password_hash, password) or user.disabled:
        return None
    return user


def check_password(password: str, username: str, field: str = "password") -> None:
    """422 naming `field` when the password is too easy to guess (server/passwords.py says which are)."""
    problem = password_problem(password, username)
    if problem is not None:
        raise InvalidInput(["body", field], f"The password {problem}")


def create_user(*, session: Session, username: str, password: str, is_admin: bool = False) -> User:
    """A new account; 422 for a password too easy to guess, 409 when the username is taken."""
    check_password(password, username)
    if find_user(session=session, username=username) is not None:
        raise Conflict(f"A user named {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.commit()
    return user


def update_user(
    *, session: Session, user_id: int, is_admin: bool | None = None, disabled: bool | None = None
) -> User:
    """Make a user admin (or not), disable or enable them; 409 when that would leave no enabled admin."""
    user = get_user(session=session, user_id=user_id)
    if user.is_admin and not user.disabled and (is_admin is False or disabled is True):
        _keep_an_admin(session, user)
    if is_admin is not None:
        user.is_admin = is_admin
    if disabled is not None:
        user.disabled = disabled
    session.commit()
    return user


def _keep_an_admin(session: Session, leaving: User) -> None:
    # With no enabled administrator nobody could manage accounts again, short of the admin CLI.
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.is_admin, User.disabled.is_(False), User.id != leaving.id)
    )
    if not others:
        raise Conflict(
            f"{leaving.username!r} is the only administrator: make someone else an administrator first"
        )


def change_password(*, session: Session, user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one."""
    if not _password_matches(user.password_hash, current):
        raise InvalidInput(["body", "current_password"], "the current password is not right")
    check_password(new, user.username, "new_password")
    user.password_hash = hash_password(new)
    session.commit()


def end_sessions(*, session: Session, user: User) -> None:
    """Log the user out everywhere: every session cookie issued so far stops working."""
    user.session_generation += 1
    session.commit()


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def ensure_admin(*, session: Session, password: str | None) -> str | None:
    """The first start with auth on: create 'admin' when there is no user at all.

    Returns the generated password (for the caller to print once), or None when nothing was generated."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    generated = None if password else secrets.token_urlsafe(12)
    create_user(session=session, username=ADMIN_USERNAME, password=password or generated or "", is_admin=True)
    return generated


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class NewToken:
    """A token just made: the only moment its clear text exists."""

    row: ApiToken
    token: str


def create_token(*, session: Session, name: str, kind: TokenKind, user_id: int | None) -> NewToken:
    """A new random token; only its hash and first 8 characters are stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user_id if kind == "user" else None,
        name=name,
        kind=kind,
        token_hash=hash_token(token),
        prefix=token[:8],
    )
    session.add(row)
    session.commit()
    return NewToken(row=row, token=token)


def find_token(*, session: Session, token: str) -> ApiToken | None:
    """The live (not revoked) token with this clear text; notes when it was last used."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
    if row is not None:
        now = datetime.now(UTC)
        last = as_utc(row.last_used_at)
        if last is None or now - last > LAST_USED_RESOLUTION:
            row.last_used_at = now
            session.commit()
    return row


def list_tokens(*, session: Session, user_id: int | None, kind: TokenKind = "user") -> list[ApiToken]:
    """A user's tokens (or, with kind='worker', the worker tokens), newest first, revoked ones included."""
    query = select(ApiToken).where(ApiToken.kind == kind)
    if kind == "user":
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query.order_by(ApiToken.id.desc())))


def revoke_token(*, session: Session, token_id: int, user_id: int | None, kind: TokenKind = "user") -> None:
    """Revoke one of the user's tokens (or a worker token); someone else's is a 404."""
    row = session.get(ApiToken, token_id)
    if row is None or row.kind != kind or (kind == "user" and row.user_id != user_id):
        raise NotFound("Token", token_id)
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.commit()


def revoke_tokens_named(*, session: Session, name: str, kind: TokenKind) -> None:
    """Revoke every live token of this kind and name (the embedded worker's token from a previous start)."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.name == name, ApiToken.kind == kind, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    session.commit()


# ---------------------------------------------------------------- project members


def role_of(*, session: Session, project_id: int, user_id: int) -> str | None:
    return session.scalar(
        select(ProjectMember.role).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
        )
    )


def add_owner(*, session: Session, project: Project, user_id: int) -> None:
    """The creator of a project becomes its owner (again a no-op for a retried create, also when the retry
    runs alongside the first)."""
    owner = {"project_id": project.id, "user_id": user_id, "role": "owner"}
    insert = insert_for(session, ProjectMember).values(owner)
    session.execute(insert.on_conflict_do_nothing(index_elements=["project_id", "user_id"]))
    session.commit()


def list_members(*, session: Session, project_id: int) -> list[MemberRead]:
    rows = session.execute(
        select(ProjectMember.user_id, User.username, ProjectMember.role)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(User.username)
    )
    return [MemberRead(user_id=user_id, username=name, role=role) for user_id, name, role in rows]


def set_member(*, session: Session, project_id: int, user_id: int, role: Role) -> MemberRead:
    """Add a user to a project with a role, or change their role."""
    user = get_user(session=session, user_id=user_id)
    member = session.get(ProjectMember, (project_id, user_id))
    if member is None:
        session.add(ProjectMember(project_id=project_id, user_id=user_id, role=role))
    else:
        _keep_an_owner(session, project_id, member, role)
        member.role = role
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"User {user_id} was added to project {project_id} meanwhile; try again") from None
    return MemberRead(user_id=user.id, username=user.username, role=role)


def remove_member(*, session: Session, project_id: int, user_id: int) -> None:
    member = session.get(ProjectMember, (project_id, user_id))
    if member is None:
        raise NotFound("Member", user_id)
    _keep_an_owner(session, project_id, member, None)
    session.delete(member)
    session.commit()


def _keep_an_owner(session: Session, project_id: int, member: ProjectMember, new_role: str | None) -> None:
    # A project whose last owner leaves could only be managed by an admin again.
    if member.role != "owner" or new_role == "owner":
        return
    owners = session.scalar(
        select(func.count())
        .select_from(ProjectMember)
        .where(ProjectMember.project_id == project_id, ProjectMember.role == "owner")
    )
    if (owners or 0) <= 1:
        raise Conflict("A project needs at least one owner: make someone else owner first")
