"""Helpers for tests with auth on: turn it on, make users and members, and clients acting as them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server import auth
from server.services import accounts
from server.tables import Project, ProjectMember, User
from trainboard.settings import get_settings

PASSWORD = "correct horse battery"


@contextmanager
def auth_turned_on(monkeypatch: pytest.MonkeyPatch, api_token: str | None = None) -> Iterator[None]:
    """TRAINBOARD_AUTH=on (and optionally a configured service token) for the duration."""
    monkeypatch.setenv("TRAINBOARD_AUTH", "on")
    if api_token:
        monkeypatch.setenv("TRAINBOARD_API_TOKEN", api_token)
    get_settings.cache_clear()
    auth._expected_token_hash.cache_clear()
    try:
        yield
    finally:
        monkeypatch.delenv("TRAINBOARD_AUTH")
        monkeypatch.delenv("TRAINBOARD_API_TOKEN", raising=False)
        get_settings.cache_clear()
        auth._expected_token_hash.cache_clear()


def make_user(session: Session, username: str, *, is_admin: bool = False) -> User:
    return accounts.create_user(session=session, username=username, password=PASSWORD, is_admin=is_admin)


def add_member(session: Session, project: Project, user: User, role: str) -> None:
    session.add(ProjectMember(project_id=project.id, user_id=user.id, role=role))
    session.commit()


def token_for(session: Session, user: User | None, kind: str = "user") -> str:
    """A fresh API token of the user (or, with user None and kind 'worker', a worker token)."""
    return accounts.create_token(
        session=session,
        name="test",
        kind=kind,
        user_id=user.id if user else None,  # type: ignore[arg-type]
    ).token


@contextmanager
def client_as(app: FastAPI, token: str | None) -> Iterator[TestClient]:
    """A client sending `Authorization: Bearer <token>` (no header when token is None)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with TestClient(app, raise_server_exceptions=False, headers=headers) as test_client:
        yield test_client
