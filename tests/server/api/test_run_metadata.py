"""Runs carry tags, notes and their environment: set at creation, edited with PATCH, returned everywhere
a run is read; the worker's environment arrives with its claim; an external run can be reopened."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

SCRIPT_ENVIRONMENT = {
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "git_dirty": True,
    "argv": ["train.py", "--lr", "0.01"],
    "python": "3.11.9",
    "torch": "2.13.0",
    "cuda": "12.4",
    "host": "gpu-box",
    "platform": "Linux-6.1-x86_64",
}


@pytest.fixture
def project_id(client: TestClient) -> int:
    return client.post("/api/v1/projects", json={"name": "meta", "dataset": "external"}).json()["id"]


def create(client: TestClient, project_id: int, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/v1/runs", json={"project_id": project_id, "external": True, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_tags_notes_and_environment_come_back_on_the_run_and_in_the_list(
    client: TestClient, project_id: int
) -> None:
    made = create(
        client,
        project_id,
        tags=[" baseline ", "resnet", "baseline"],
        notes="First try with\nthe new augmentation.",
        environment=SCRIPT_ENVIRONMENT,
    )
    run = client.get(f"/api/v1/runs/{made['id']}").json()
    assert run["tags"] == ["baseline", "resnet"]  # trimmed, each once
    assert run["notes"] == "First try with\nthe new augmentation."
    assert run["environment"] == SCRIPT_ENVIRONMENT
    [listed] = client.get("/api/v1/runs", params={"project_id": project_id}).json()["items"]
    assert {k: listed[k] for k in ("tags", "notes", "environment")} == {
        k: run[k] for k in ("tags", "notes", "environment")
    }


def test_a_run_created_without_them_has_no_tags_empty_notes_and_no_environment(
    client: TestClient, project_id: int
) -> None:
    run = create(client, project_id)
    assert (run["tags"], run["notes"], run["environment"]) == ([], "", None)


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        ({"tags": ["x" * 101]}, ["body", "tags", 0], "at most 100 characters"),
        ({"tags": ["  "]}, ["body", "tags", 0], "at least 1 character"),
        ({"tags": [f"t{i}" for i in range(51)]}, ["body", "tags"], "at most 50 items"),
        ({"tags": "baseline"}, ["body", "tags"], "valid list"),
        ({"notes": "n" * 10_001}, ["body", "notes"], "at most 10000 characters"),
        ({"environment": {"argv": ["x" * 30_000]}}, ["body", "environment"], "at most 20000 characters"),
    ],
)
def test_bad_metadata_is_a_422_naming_the_field(
    client: TestClient, project_id: int, fields: dict[str, Any], loc: list[Any], message: str
) -> None:
    response = client.post("/api/v1/runs", json={"project_id": project_id, "external": True, **fields})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc and message in error["msg"]


def test_patch_edits_name_notes_and_tags_and_leaves_the_rest(client: TestClient, project_id: int) -> None:
    run = create(client, project_id, name="before", tags=["a"], notes="old", environment={"host": "h"})
    response = client.patch(f"/api/v1/runs/{run['id']}", json={"notes": "Dev error plateaued at 8 %."})
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["tags"]) == ("before", ["a"])
    response = client.patch(f"/api/v1/runs/{run['id']}", json={"name": " after ", "tags": ["b", "c"]})
    after = client.get(f"/api/v1/runs/{run['id']}").json()
    assert response.json() == after
    assert (after["name"], after["tags"]) == ("after", ["b", "c"])
    assert after["notes"] == "Dev error plateaued at 8 %."
    assert after["environment"] == {"host": "h"}
    client.patch(f"/api/v1/runs/{run['id']}", json={"tags": []})
    assert client.get(f"/api/v1/runs/{run['id']}").json()["tags"] == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": ""}, ["body", "name"]),
        ({"tags": ["x" * 101]}, ["body", "tags", 0]),
        ({"notes": "n" * 10_001}, ["body", "notes"]),
        ({"status": "succeeded"}, ["body", "status"]),
    ],
)
def test_patch_refuses_bad_fields_by_name(
    client: TestClient, project_id: int, body: dict[str, Any], loc: list[Any]
) -> None:
    run = create(client, project_id)
    response = client.patch(f"/api/v1/runs/{run['id']}", json=body)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]


def test_patch_of_an_unknown_run_is_404(client: TestClient) -> None:
    response = client.patch("/api/v1/runs/999999", json={"notes": "x"})
    assert response.status_code == 404 and response.json()["detail"] == "Run 999999 not found"


def test_a_worker_sends_its_environment_when_it_claims_the_run(client: TestClient) -> None:
    project_id = client.post("/api/v1/projects", json={"name": "zoo", "dataset": "digits"}).json()["id"]
    run = client.post("/api/v1/runs", json={"project_id": project_id, "config": {}}).json()
    assert run["environment"] is None
    environment = {"device": "cuda:0", "torch": "2.13.0", "cuda": "12.4", "host": "gpu-1"}
    body = {"worker": "gpu-1:42", "device": "cuda:0", "environment": environment}
    assert client.post(f"/api/v1/runs/{run['id']}/start", json=body).status_code == 200
    assert client.get(f"/api/v1/runs/{run['id']}").json()["environment"] == environment


def test_resume_reopens_a_finished_external_run_and_says_its_last_step(
    client: TestClient, project_id: int
) -> None:
    run = create(client, project_id)
    points = [{"key": "loss", "step": s, "value": 1 / s} for s in (1, 2, 3)] + [
        {"key": "dev_error", "step": 2, "value": 0.2}
    ]
    client.post(f"/api/v1/runs/{run['id']}/metrics", json={"metrics": points})
    client.post(f"/api/v1/runs/{run['id']}/finish", json={"status": "failed", "error": "killed"})
    response = client.post(f"/api/v1/runs/{run['id']}/resume")
    assert response.status_code == 200, response.text
    resumed = response.json()
    assert (resumed["status"], resumed["error"], resumed["finished_at"]) == ("running", None, None)
    assert resumed["last_step"] == 3
    assert client.get(f"/api/v1/runs/{run['id']}").json()["status"] == "running"
    fresh = create(client, project_id)
    assert client.post(f"/api/v1/runs/{fresh['id']}/resume").json()["last_step"] is None


def test_resume_refuses_a_run_a_worker_trains(client: TestClient) -> None:
    project_id = client.post("/api/v1/projects", json={"name": "zoo", "dataset": "digits"}).json()["id"]
    run = client.post("/api/v1/runs", json={"project_id": project_id, "config": {}}).json()
    response = client.post(f"/api/v1/runs/{run['id']}/resume")
    assert response.status_code == 409
    assert "trained by a worker" in response.json()["detail"]
