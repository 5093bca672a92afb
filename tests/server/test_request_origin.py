"""Auth off (the default of `make run`) trusts whoever reaches the server, so: no write from another site's
page, no request naming another host when listening on loopback (DNS rebinding), and no account or token
made over HTTP (it would still work once auth is on)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.security import is_loopback_host
from server.tables import ApiToken, Project, User
from tests.factories import make_project, make_run
from tests.server.accounts import auth_turned_on, make_user
from tests.server.pages.html import csrf_token


@pytest.fixture
def loopback_client(app: FastAPI) -> Iterator[TestClient]:
    """A client of a server listening on 127.0.0.1:8000, as `trainboard up` does."""
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),  # curl, scripts, the client library
        ({"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}, 200),  # the dashboard's own pages
        ({"Origin": "http://testserver"}, 200),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Origin": "http://testserver:9000"}, 403),  # another port
        ({"Origin": "https://evil.example"}, 403),  # an older browser: Origin only
        ({"Origin": "null"}, 403),  # a sandboxed frame or a data: URL
    ],
)
def test_writes_from_another_site_are_refused(
    client: TestClient, session: Session, headers: dict[str, str], status: int
) -> None:
    run = make_run(session, make_project(session), status="running")
    response = client.post(f"/api/v1/runs/{run.id}/cancel", headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["detail"].startswith("Refused: ")
        assert session.get(type(run), run.id).status == "running"  # type: ignore[union-attr]


def test_a_cross_site_form_cannot_cancel_a_run_but_can_still_read(
    client: TestClient, session: Session
) -> None:
    run = make_run(session, make_project(session), status="running")
    lured = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    posted = client.post(f"/runs/{run.id}/cancel", data={"csrf_token": csrf_token(client)}, headers=lured)
    assert posted.status_code == 403 and "Refused: a cross-site request" in posted.text
    assert client.get(f"/runs/{run.id}", headers=lured).status_code == 200  # a link from elsewhere works


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost"])
def test_loopback_names_reach_a_loopback_server(loopback_client: TestClient, host: str) -> None:
    assert loopback_client.get("/api/v1/projects", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example:8000", "evil.example", "0.0.0.0:8000", "192.168.1.5:8000"])
def test_other_names_are_refused_with_auth_off(loopback_client: TestClient, host: str) -> None:
    api = loopback_client.get("/api/v1/projects", headers={"Host": host})
    assert api.status_code == 400 and "localhost, 127.0.0.1 and [::1] only" in api.json()["detail"]
    assert loopback_client.get("/", headers={"Host": host}).status_code == 400


def test_with_auth_on_any_name_may_reach_a_loopback_server(
    loopback_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind a reverse proxy the Host is the public name; rebinding gains nothing without cookies or token.
    with auth_turned_on(monkeypatch):
        response = loopback_client.get("/api/v1/projects", headers={"Host": "trainboard.example.com"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.9.9:1", True), ("LOCALHOST:80", True), ("app.localhost", True),
     ("[::1]", True), ("localhost.evil.example", False), ("127.0.0.1.evil.example:80", False), ("", False)],
)  # fmt: skip
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_no_account_token_or_member_is_made_over_http_with_auth_off(
    client: TestClient, session: Session
) -> None:
    alice = make_user(session, "alice")
    project = make_project(session)
    attempts = {
        "create an admin": client.post(
            "/api/v1/users", json={"username": "admin2", "password": "a long password", "is_admin": True}
        ),
        "promote a user": client.patch(f"/api/v1/users/{alice.id}", json={"is_admin": True}),
        "make a worker token": client.post("/api/v1/tokens", json={"name": "w", "kind": "worker"}),
        "add a member": client.put(
            f"/api/v1/projects/{project.id}/members/{alice.id}", json={"role": "owner"}
        ),
        "create a user on the page": client.post(
            "/users",
            data={"csrf_token": csrf_token(client), "username": "admin3", "password": "a long password"},
        ),
        "make a worker token on the page": client.post(
            "/users/worker-tokens/new", data={"csrf_token": csrf_token(client), "name": "w"}
        ),
    }
    assert {what: r.status_code for what, r in attempts.items() if r.status_code != 403} == {}
    assert "trainboard users add" in attempts["create an admin"].json()["detail"]
    assert session.scalar(select(func.count()).select_from(User)) == 1
    assert session.get(User, alice.id).is_admin is False  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0
    assert session.get(Project, project.id) is not None
