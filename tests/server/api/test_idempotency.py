"""A POST retried with the same Idempotency-Key (its reply was lost) returns what the first one created."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.server.accounts import auth_turned_on, client_as, make_user, token_for


def new_project(client: TestClient, name: str, key: str | None = None) -> dict:  # type: ignore[type-arg]
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post("/api/v1/projects", json={"name": name, "dataset": "external"}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def post_run(client: TestClient, project_id: int, key: str | None):  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": key} if key else {}
    body = {"project_id": project_id, "external": True, "params": {"lr": 0.1}}
    return client.post("/api/v1/runs", json=body, headers=headers)


def run_ids(client: TestClient, project_id: int) -> list[int]:
    page = client.get("/api/v1/runs", params={"project_id": project_id}).json()
    return [run["id"] for run in page["items"]]


def test_a_retried_run_post_creates_one_run(client: TestClient) -> None:
    project_id = new_project(client, "idem-runs")["id"]
    key = str(uuid.uuid4())
    first, again = post_run(client, project_id, key), post_run(client, project_id, key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert run_ids(client, project_id) == [first.json()["id"]]


def test_posts_without_a_key_or_with_new_keys_create_new_runs(client: TestClient) -> None:
    project_id = new_project(client, "idem-fresh")["id"]
    ids = {post_run(client, project_id, key).json()["id"] for key in (None, None, "a", "b")}
    assert len(ids) == 4 and sorted(run_ids(client, project_id)) == sorted(ids)


def test_a_key_reused_for_another_project_is_409(client: TestClient) -> None:
    first, second = new_project(client, "idem-one")["id"], new_project(client, "idem-two")["id"]
    assert post_run(client, first, "shared").status_code == 201
    response = post_run(client, second, "shared")
    assert response.status_code == 409
    assert "Idempotency-Key 'shared' was already used" in response.json()["detail"]
    assert run_ids(client, second) == []


def test_a_retried_project_post_returns_the_project_instead_of_409(client: TestClient) -> None:
    key = str(uuid.uuid4())
    first = new_project(client, "idem-project", key)
    assert new_project(client, "idem-project", key)["id"] == first["id"]
    clash = client.post("/api/v1/projects", json={"name": "idem-project", "dataset": "external"})
    assert clash.status_code == 409  # without the key it is another project, whose name is taken


def test_an_overlong_key_is_422_naming_the_header(client: TestClient) -> None:
    project_id = new_project(client, "idem-long")["id"]
    response = post_run(client, project_id, "k" * 201)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "idempotency-key"]


def test_a_key_is_scoped_to_the_caller_who_sent_it(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = {"Idempotency-Key": "the-same-key"}
    with auth_turned_on(monkeypatch):
        alice, bob = make_user(session, "alice"), make_user(session, "bob")
        with client_as(app, token_for(session, alice)) as as_alice:
            body = {"name": "alice-secret", "dataset": "external"}
            mine = as_alice.post("/api/v1/projects", json=body, headers=headers).json()
            run = {"project_id": mine["id"], "external": True}
            my_run = as_alice.post("/api/v1/runs", json=run, headers=headers).json()
        with client_as(app, token_for(session, bob)) as as_bob:
            theirs = as_bob.post(
                "/api/v1/projects", json={"name": "bob-project", "dataset": "external"}, headers=headers
            )
            assert theirs.status_code == 201, theirs.text  # not a 409 naming alice's project
            assert theirs.json()["id"] != mine["id"] and "alice-secret" not in theirs.text
            run = {"project_id": theirs.json()["id"], "external": True}
            their_run = as_bob.post("/api/v1/runs", json=run, headers=headers)
            assert their_run.status_code == 201 and their_run.json()["id"] != my_run["id"]
            again = as_bob.post("/api/v1/runs", json=run, headers=headers)
            assert again.json()["id"] == their_run.json()["id"]  # bob's own retry still finds bob's run
        with client_as(app, token_for(session, alice)) as as_alice:
            members = as_alice.get(f"/api/v1/projects/{mine['id']}/members").json()
            assert [m["username"] for m in members] == ["alice"]
