"""The Account, Users and Members pages, driven through their forms as a logged-in user."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.services import accounts
from server.tables import Project
from tests.factories import make_project
from tests.server.accounts import PASSWORD, add_member, auth_turned_on, client_as, make_user
from tests.server.pages.html import table_rows


@pytest.fixture(autouse=True)
def auth_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with auth_turned_on(monkeypatch):
        yield


def _logged_in(app: FastAPI, username: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    client.get("/login")
    data = {"csrf_token": client.cookies.get("tb_csrf"), "username": username, "password": PASSWORD}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    return client


def _csrf(client: TestClient) -> str:
    return client.cookies.get("tb_csrf") or ""


def test_account_page_shows_a_new_token_once_and_revokes_it(app: FastAPI, session: Session) -> None:
    make_user(session, "alice")
    client = _logged_in(app, "alice")
    page = client.get("/account")
    assert 'data-role="username">alice<' in page.text

    created = client.post("/account/tokens", data={"csrf_token": _csrf(client), "name": "laptop"})
    assert created.status_code == 201
    token = created.text.split('data-role="new-token">')[1].split("<")[0]
    assert token.startswith("tb_")
    again = client.get("/account")
    assert token not in again.text
    rows = table_rows(again.text, "token-list")
    assert rows[0][:2] == ["laptop", f"{token[:8]}…"] and rows[0][4] == "active"
    with client_as(app, token) as script:
        assert script.get("/api/v1/me").json()["username"] == "alice"
        token_id = accounts.list_tokens(session=session, user_id=script.get("/api/v1/me").json()["user_id"])[
            0
        ].id
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": _csrf(client)})
    assert table_rows(client.get("/account").text, "token-list")[0][4] == "revoked"
    with client_as(app, token) as script:
        assert script.get("/api/v1/me").status_code == 401


def test_password_change_needs_the_current_password(app: FastAPI, session: Session) -> None:
    make_user(session, "alice")
    client = _logged_in(app, "alice")
    bad = {"csrf_token": _csrf(client), "current_password": "wrong", "new_password": "a brand new one"}
    assert (
        "Current password (current_password): the current password is not right"
        in client.post("/account/password", data=bad).text
    )
    trivial = {**bad, "current_password": PASSWORD, "new_password": "password1"}
    assert "New password (new_password): The password is one of the most common" in html.unescape(
        client.post("/account/password", data=trivial).text
    )
    good = {**bad, "current_password": PASSWORD}
    assert "Password changed." in client.post("/account/password", data=good).text
    assert accounts.authenticate(session=session, username="alice", password="a brand new one") is not None


def test_a_new_password_logs_out_every_other_session(app: FastAPI, session: Session) -> None:
    make_user(session, "alice")
    here, elsewhere = _logged_in(app, "alice"), _logged_in(app, "alice")
    assert elsewhere.get("/account", follow_redirects=False).status_code == 200
    change = {"csrf_token": _csrf(here), "current_password": PASSWORD, "new_password": "a brand new one"}
    assert "Password changed." in here.post("/account/password", data=change).text
    # The browser that changed it stays logged in; a cookie from before the change no longer works.
    assert here.get("/account", follow_redirects=False).status_code == 200
    stale = elsewhere.get("/account", follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/login")


def test_owner_adds_a_member_who_then_sees_the_project(app: FastAPI, session: Session) -> None:
    owner = make_user(session, "olga")
    make_user(session, "vera")
    project: Project = make_project(session, name="shared-project")
    add_member(session, project, owner, "owner")
    vera = _logged_in(app, "vera")
    assert "shared-project" not in vera.get("/").text
    assert vera.get(f"/projects/{project.id}").status_code == 404

    olga = _logged_in(app, "olga")
    members_url = f"/projects/{project.id}/members"
    assert olga.get(f"/projects/{project.id}").status_code == 200
    unknown = olga.post(members_url, data={"csrf_token": _csrf(olga), "username": "nobody", "role": "viewer"})
    assert "no user is called 'nobody'" in html.unescape(unknown.text)
    olga.post(members_url, data={"csrf_token": _csrf(olga), "username": "vera", "role": "viewer"})
    rows = table_rows(olga.get(members_url).text, "member-list")
    assert [row[:2] for row in rows] == [["olga", "owner"], ["vera", "viewer"]]

    assert "shared-project" in vera.get("/").text
    assert vera.get(members_url).status_code == 403  # a viewer does not manage members
    refused = vera.post(
        f"/projects/{project.id}", data={"csrf_token": _csrf(vera), "optimizing_metric": "dev_error"}
    )
    assert refused.status_code == 403


def test_users_page_is_for_admins(app: FastAPI, session: Session) -> None:
    make_user(session, "root", is_admin=True)
    make_user(session, "alice")
    assert _logged_in(app, "alice").get("/users").status_code == 403
    admin = _logged_in(app, "root")
    assert '<a class="nav-link" href="/users">Users</a>' in admin.get("/").text
    admin.post("/users", data={"csrf_token": _csrf(admin), "username": "carol", "password": "long enough"})
    carol = accounts.find_user(session=session, username="carol")
    assert carol is not None and not carol.is_admin
    admin.post(f"/users/{carol.id}", data={"csrf_token": _csrf(admin), "action": "disable"})
    assert accounts.authenticate(session=session, username="carol", password="long enough") is None
    worker = admin.post("/users/worker-tokens/new", data={"csrf_token": _csrf(admin), "name": "gpu-1"})
    token = worker.text.split('data-role="new-token">')[1].split("<")[0]
    with client_as(app, token) as as_worker:
        assert as_worker.get("/api/v1/me").json()["kind"] == "worker"
