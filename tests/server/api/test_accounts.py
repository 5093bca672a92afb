"""Accounts with auth on: hashed passwords, login, per-user tokens, worker tokens and project roles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import auth
from server.services.accounts import hash_token
from server.tables import ApiToken, Project, User
from tests.factories import make_project, make_run
from tests.server.accounts import PASSWORD, add_member, auth_turned_on, client_as, make_user, token_for
from tests.server.pages.html import csrf_token

SERVICE_TOKEN = "configured-service-token-for-tests"


@pytest.fixture(autouse=True)
def auth_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with auth_turned_on(monkeypatch, api_token=SERVICE_TOKEN):
        yield


@pytest.fixture
def project(session: Session) -> Project:
    return make_project(session)


def _login(client: TestClient, username: str, password: str) -> int:
    client.get("/login")
    token = client.cookies.get("tb_csrf")
    data = {"csrf_token": token, "username": username, "password": password, "next": "/"}
    return client.post("/login", data=data, follow_redirects=False).status_code


def test_password_is_stored_as_an_argon2_hash(session: Session) -> None:
    user = make_user(session, "alice")
    stored = session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored is not None and PASSWORD not in stored and stored.startswith("$argon2")


def test_login_logout_and_wrong_password(client: TestClient, session: Session) -> None:
    make_user(session, "alice")
    assert client.get("/api/v1/me").status_code == 401
    assert _login(client, "alice", "not the password") == 401
    assert _login(client, "nobody", PASSWORD) == 401
    assert _login(client, "alice", PASSWORD) == 303
    me = client.get("/api/v1/me").json()
    assert (me["kind"], me["username"], me["is_admin"]) == ("user", "alice", False)
    client.post("/logout", data={"csrf_token": client.cookies.get("tb_csrf")})
    client.cookies.delete("tb_session")
    assert client.get("/api/v1/me").status_code == 401


def test_disabled_user_can_neither_log_in_nor_use_a_token(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, "root", is_admin=True)
    alice = make_user(session, "alice")
    token = token_for(session, alice)
    with client_as(app, token_for(session, admin)) as as_admin:
        assert as_admin.patch(f"/api/v1/users/{alice.id}", json={"disabled": True}).json()["disabled"] is True
    assert _login(client, "alice", PASSWORD) == 401
    with client_as(app, token) as as_alice:
        assert as_alice.get("/api/v1/me").status_code == 401


def test_token_is_shown_once_stored_hashed_and_revocable(app: FastAPI, session: Session) -> None:
    alice = make_user(session, "alice")
    with client_as(app, token_for(session, alice)) as as_alice:
        created = as_alice.post("/api/v1/tokens", json={"name": "laptop"})
        assert created.status_code == 201
        token = created.json()["token"]
        assert created.json()["prefix"] == token[:8]
        listed = as_alice.get("/api/v1/tokens").json()
        assert "laptop" in [t["name"] for t in listed] and all("token" not in t for t in listed)
    row = session.scalar(select(ApiToken).where(ApiToken.name == "laptop"))
    assert row is not None and row.token_hash == hash_token(token)
    assert token not in {str(getattr(row, c.key)) for c in ApiToken.__table__.columns}
    with client_as(app, token) as with_new:
        assert with_new.get("/api/v1/me").json()["username"] == "alice"
        assert with_new.delete(f"/api/v1/tokens/{row.id}").status_code == 204
        assert with_new.get("/api/v1/me").status_code == 401
        assert with_new.get("/api/v1/projects").status_code == 401


def test_someone_elses_token_cannot_be_revoked(app: FastAPI, session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    token = token_for(session, alice)
    alice_token_id = session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token)))
    with client_as(app, token_for(session, bob)) as as_bob:
        assert as_bob.delete(f"/api/v1/tokens/{alice_token_id}").status_code == 404
    with client_as(app, token) as as_alice:
        assert as_alice.get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("worker_token", ["configured", "issued"])
def test_worker_reports_metrics_but_cannot_manage_accounts(
    app: FastAPI, session: Session, project: Project, worker_token: str
) -> None:
    run = make_run(session, project, status="running")
    token = SERVICE_TOKEN if worker_token == "configured" else token_for(session, None, kind="worker")
    with client_as(app, token) as worker:
        assert worker.get("/api/v1/me").json()["kind"] == "worker"
        points = {"metrics": [{"key": "dev_error", "step": 1, "value": 0.2}]}
        assert worker.post(f"/api/v1/runs/{run.id}/metrics", json=points).json() == {"accepted": 1}
        assert worker.get(f"/api/v1/runs/{run.id}").status_code == 200
        refused = worker.post("/api/v1/users", json={"username": "eve", "password": "12345678x"})
        assert refused.status_code == 403
        assert worker.post("/api/v1/tokens", json={"name": "x"}).status_code == 403
        assert (
            worker.put(f"/api/v1/projects/{project.id}/members/1", json={"role": "owner"}).status_code == 403
        )
    assert session.scalar(select(User).where(User.username == "eve")) is None


def test_only_admins_create_users(app: FastAPI, session: Session) -> None:
    admin, alice = make_user(session, "root", is_admin=True), make_user(session, "alice")
    body = {"username": "carol", "password": "long enough"}
    with client_as(app, token_for(session, alice)) as as_alice:
        assert as_alice.post("/api/v1/users", json=body).status_code == 403
        assert as_alice.get("/api/v1/users").status_code == 403
    with client_as(app, token_for(session, admin)) as as_admin:
        created = as_admin.post("/api/v1/users", json=body)
        assert created.status_code == 201 and created.json()["username"] == "carol"
        assert as_admin.post("/api/v1/users", json=body).status_code == 409
        short = as_admin.post("/api/v1/users", json={"username": "dave", "password": "short"})
        assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]


def test_creator_owns_the_project_and_sees_it_alone(app: FastAPI, session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    with client_as(app, token_for(session, alice)) as as_alice:
        created = as_alice.post("/api/v1/projects", json={"name": "mine", "dataset": "digits"})
        assert created.status_code == 201
        project_id = created.json()["id"]
        members = as_alice.get(f"/api/v1/projects/{project_id}/members").json()
        assert members == [{"user_id": alice.id, "username": "alice", "role": "owner"}]
    with client_as(app, token_for(session, bob)) as as_bob:
        assert as_bob.get("/api/v1/projects").json()["total"] == 0
        missing = as_bob.get(f"/api/v1/projects/{project_id}")
        assert missing.status_code == 404 and missing.json()["detail"] == f"Project {project_id} not found"
        assert as_bob.get("/api/v1/projects/999999").json()["detail"] == "Project 999999 not found"


def test_viewer_reads_but_does_not_write(app: FastAPI, session: Session, project: Project) -> None:
    viewer = make_user(session, "vera")
    add_member(session, project, viewer, "viewer")
    run = make_run(session, project, status="queued")
    with client_as(app, token_for(session, viewer)) as as_viewer:
        assert as_viewer.get(f"/api/v1/runs/{run.id}").status_code == 200
        assert as_viewer.get(f"/api/v1/runs?project_id={project.id}").json()["total"] == 1
        assert as_viewer.post(f"/api/v1/runs/{run.id}/cancel").status_code == 403
        new_run = as_viewer.post("/api/v1/runs", json={"project_id": project.id, "config": {}})
        assert new_run.status_code == 403
        assert (
            as_viewer.post(f"/api/v1/projects/{project.id}/tags", json={"name": "blurry"}).status_code == 403
        )
    assert session.get(type(run), run.id).status == "queued"  # type: ignore[union-attr]


def test_editor_writes_runs_but_does_not_manage(app: FastAPI, session: Session, project: Project) -> None:
    editor, other = make_user(session, "ed"), make_user(session, "other")
    add_member(session, project, editor, "editor")
    with client_as(app, token_for(session, editor)) as as_editor:
        run = as_editor.post("/api/v1/runs", json={"project_id": project.id, "external": True})
        assert run.status_code == 201
        assert (
            as_editor.post(f"/api/v1/projects/{project.id}/tags", json={"name": "blurry"}).status_code == 201
        )
        assert as_editor.post(f"/api/v1/runs/{run.json()['id']}/cancel").status_code == 200
        added = as_editor.put(f"/api/v1/projects/{project.id}/members/{other.id}", json={"role": "viewer"})
        assert added.status_code == 403
        assert as_editor.patch(f"/api/v1/projects/{project.id}", json={"name": "renamed"}).status_code == 403


def test_owner_manages_members(app: FastAPI, session: Session, project: Project) -> None:
    owner, newcomer = make_user(session, "olga"), make_user(session, "nick")
    add_member(session, project, owner, "owner")
    with client_as(app, token_for(session, newcomer)) as as_newcomer:
        assert as_newcomer.get(f"/api/v1/projects/{project.id}").status_code == 404
    with client_as(app, token_for(session, owner)) as as_owner:
        url = f"/api/v1/projects/{project.id}/members/{newcomer.id}"
        assert as_owner.put(url, json={"role": "editor"}).json()["role"] == "editor"
        assert as_owner.put(url, json={"role": "boss"}).status_code == 422
        last_owner = as_owner.delete(f"/api/v1/projects/{project.id}/members/{owner.id}")
        assert last_owner.status_code == 409
        assert as_owner.patch(f"/api/v1/projects/{project.id}", json={"name": "renamed"}).status_code == 200
    with client_as(app, token_for(session, newcomer)) as as_newcomer:
        assert as_newcomer.get(f"/api/v1/projects/{project.id}").json()["name"] == "renamed"
    with client_as(app, token_for(session, owner)) as as_owner:
        assert as_owner.delete(f"/api/v1/projects/{project.id}/members/{newcomer.id}").status_code == 204
    with client_as(app, token_for(session, newcomer)) as as_newcomer:
        assert as_newcomer.get(f"/api/v1/projects/{project.id}").status_code == 404


def test_pages_use_the_same_session(client: TestClient, session: Session) -> None:
    make_user(session, "alice")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert _login(client, "alice", PASSWORD) == 303
    page = client.get("/")
    assert page.status_code == 200 and 'data-role="whoami">alice<' in page.text
    assert csrf_token(client)


def test_project_names_are_unique_per_owner_so_a_409_reveals_no_one_elses(
    app: FastAPI, session: Session
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    with client_as(app, token_for(session, alice)) as as_alice:
        secret = as_alice.post("/api/v1/projects", json={"name": "merger-2027", "dataset": "external"})
        assert secret.status_code == 201
    with client_as(app, token_for(session, bob)) as as_bob:
        body = {"name": "merger-2027", "dataset": "external"}
        mine = as_bob.post("/api/v1/projects", json=body)
        assert mine.status_code == 201, mine.text  # was a 409 telling bob that the name exists
        again = as_bob.post("/api/v1/projects", json=body)
        assert again.status_code == 409 and "already exists" in again.json()["detail"]
        other = as_bob.post("/api/v1/projects", json={"name": "other", "dataset": "external"}).json()
        clash = as_bob.patch(f"/api/v1/projects/{other['id']}", json={"name": "merger-2027"})
        assert clash.status_code == 409
        assert as_bob.get("/api/v1/projects", params={"name": "merger-2027"}).json()["total"] == 1


def test_api_writes_with_the_session_cookie_need_the_csrf_header(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert _login(client, "alice", PASSWORD) == 303
    page = client.get("/")
    token = client.cookies.get("tb_csrf")
    assert f'<meta name="csrf-token" content="{token}">' in page.text  # what the pages' scripts send
    body = {"name": "by-cookie", "dataset": "external"}
    refused = client.post("/api/v1/projects", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    assert client.post("/api/v1/projects", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.get("/api/v1/projects").json()["total"] == 0  # reads need no token
    created = client.post("/api/v1/projects", json=body, headers={"X-CSRF-Token": token})
    assert created.status_code == 201
    with client_as(app, token_for(session, alice)) as script:  # a bearer token needs none
        assert (
            script.post("/api/v1/projects", json={"name": "by-token", "dataset": "external"}).status_code
            == 201
        )


def test_the_api_docs_need_a_login_when_auth_is_on(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/docs", follow_redirects=False).status_code == 303
    with client_as(app, token_for(session, alice)) as script:
        assert "/api/v1/projects" in script.get("/openapi.json").json()["paths"]
    assert _login(client, "alice", PASSWORD) == 303
    assert "swagger-ui" in client.get("/docs").text


def test_logging_out_ends_the_session_on_the_server(client: TestClient, session: Session) -> None:
    make_user(session, "alice")
    assert _login(client, "alice", PASSWORD) == 303
    copied = client.cookies.get("tb_session")
    assert client.post("/logout", data={"csrf_token": client.cookies.get("tb_csrf")}).status_code == 200
    client.cookies.set("tb_session", copied)  # e.g. left behind on a shared machine, or stolen
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert _login(client, "alice", PASSWORD) == 303  # logging in again works
    assert client.get("/api/v1/me").json()["username"] == "alice"


def test_the_only_admin_cannot_demote_or_disable_themselves(app: FastAPI, session: Session) -> None:
    root = make_user(session, "root", is_admin=True)
    with client_as(app, token_for(session, root)) as as_root:
        for change in ({"is_admin": False}, {"disabled": True}):
            refused = as_root.patch(f"/api/v1/users/{root.id}", json=change)
            assert refused.status_code == 409 and "only administrator" in refused.json()["detail"]
        second = as_root.post(
            "/api/v1/users", json={"username": "ada", "password": PASSWORD, "is_admin": True}
        )
        assert as_root.patch(f"/api/v1/users/{root.id}", json={"is_admin": False}).status_code == 200
    ada = session.get(User, second.json()["id"])
    with client_as(app, token_for(session, ada)) as as_ada:
        assert as_ada.patch(f"/api/v1/users/{ada.id}", json={"disabled": True}).status_code == 409  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", "one of the most common passwords"),
        ("12345678", "one of the most common passwords"),
        ("Password1", "one of the most common passwords"),
        ("carol-the-admin", "must not be the username"),
        ("zzzzzzzzzz", "a run of repeated or consecutive characters"),
        ("short", "at least 8 characters"),
    ],
)
def test_trivial_passwords_are_refused_with_a_422_naming_the_field(
    app: FastAPI, session: Session, password: str, reason: str
) -> None:
    admin = make_user(session, "root", is_admin=True)
    with client_as(app, token_for(session, admin)) as as_admin:
        body = {"username": "carol-the-admin", "password": password}
        refused = as_admin.post("/api/v1/users", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "password"]
        assert reason in refused.json()["detail"][0]["msg"]
        change = {"current_password": PASSWORD, "new_password": password}
        refused = as_admin.put("/api/v1/me/password", json=change)
        if password != "carol-the-admin":  # root may use carol's name as a password
            assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
                "body",
                "new_password",
            ]


@pytest.mark.parametrize("cookie", ["1.\u00b2.abc", "\u00b2.9999999999.abc", "1.9999999999", "1.\u0663.x"])
def test_a_session_cookie_with_other_digits_names_no_user(cookie: str) -> None:
    # "\u00b2".isdigit() is True but int("\u00b2") raises: the cookie parser must read ASCII digits only.
    assert auth.session_user_id(cookie) is None
