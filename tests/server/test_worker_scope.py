"""A worker token does what training needs (server/worker_scope.py) and nothing else: every other route is
403 (tests/server/test_access.py walks them all), and it fetches an uploaded dataset only while a run or a
gradient check waits for it or trains on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.orm import Session

from server.worker_scope import WORKER_ENDPOINTS, endpoint_name_of
from tests.dataset_files import good_npz
from tests.factories import make_gradcheck, make_project, make_run
from tests.server.accounts import add_member, auth_turned_on, client_as, make_user, token_for

CHECKPOINT = b"\x00checkpoint bytes\xff"


@pytest.fixture(autouse=True)
def auth_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with auth_turned_on(monkeypatch):
        yield


def _upload(app: FastAPI, token: str, name: str) -> int:
    with client_as(app, token) as uploader:
        files = {"file": ("data.npz", good_npz(), "application/octet-stream")}
        response = uploader.post("/api/v1/datasets", data={"name": name}, files=files)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def test_every_worker_endpoint_is_a_real_route(app: FastAPI) -> None:
    handlers = {
        endpoint_name_of(context.original_route.endpoint)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    }
    assert WORKER_ENDPOINTS - handlers == set()


def test_a_worker_trains_a_run_on_an_uploaded_dataset_through_its_routes(
    app: FastAPI, session: Session
) -> None:
    alice = make_user(session, "alice")
    alice_token = token_for(session, alice)
    dataset_id = _upload(app, alice_token, "blobs")
    unused_id = _upload(app, alice_token, "unused")
    project = make_project(session, dataset=str(dataset_id))
    add_member(session, project, alice, "owner")
    run = make_run(session, project, status="queued")
    url = f"/api/v1/runs/{run.id}"
    with client_as(app, token_for(session, None, kind="worker")) as worker:
        assert worker.get(url).json()["status"] == "queued"
        assert worker.get(f"/api/v1/datasets/{dataset_id}").status_code == 200
        assert worker.get(f"/api/v1/datasets/{dataset_id}/file").status_code == 200
        unused = worker.get(f"/api/v1/datasets/{unused_id}/file")
        assert unused.status_code == 403 and "not used by a queued or running run" in unused.json()["detail"]
        assert worker.post(f"{url}/start", json={"worker": "w1", "device": "cpu"}).status_code == 200
        progress = {"epoch": 1, "epochs": 2, "step": 3, "steps": 6}
        assert worker.post(f"{url}/progress", json=progress).json() == {"status": "running"}
        assert worker.post(f"{url}/heartbeat").status_code == 200
        points = {"metrics": [{"key": "dev_error", "step": 1, "value": 0.25}]}
        assert worker.post(f"{url}/metrics", json=points).json() == {"accepted": 1}
        predictions = {"split": "dev", "predictions": [{"example_id": "e1", "label": "0", "predicted": "1"}]}
        assert worker.post(f"{url}/predictions", json=predictions).json() == {"accepted": 1}
        headers = {"Content-Type": "application/octet-stream"}
        assert worker.put(f"{url}/checkpoint", content=CHECKPOINT, headers=headers).status_code == 204
        assert worker.get(f"{url}/checkpoint").content == CHECKPOINT
        corrections = worker.get(f"/api/v1/projects/{project.id}/label-corrections", params={"version": 1})
        assert corrections.status_code == 200
        assert worker.post(f"{url}/finish", json={"status": "succeeded"}).status_code == 200
        # The run is over: its dataset is no longer the worker's to fetch.
        assert worker.get(f"/api/v1/datasets/{dataset_id}/file").status_code == 403


def test_a_worker_runs_a_gradient_check_and_fetches_its_dataset(app: FastAPI, session: Session) -> None:
    alice = make_user(session, "alice")
    dataset_id = _upload(app, token_for(session, alice), "checked")
    check = make_gradcheck(
        session, id="6f1c1d4e-0000-4000-8000-0000000000c1", dataset=str(dataset_id), owner_id=alice.id
    )
    with client_as(app, token_for(session, None, kind="worker")) as worker:
        assert worker.get(f"/api/v1/gradcheck/{check.id}").json()["status"] == "queued"
        assert worker.get(f"/api/v1/datasets/{dataset_id}/file").status_code == 200
        result = {"parameters": [{"name": "fc.weight", "relative_difference": 1e-8}]}
        assert worker.put(f"/api/v1/gradcheck/{check.id}/result", json=result).json()["status"] == "done"
        assert worker.get(f"/api/v1/datasets/{dataset_id}/file").status_code == 403


def test_a_worker_token_manages_nothing(app: FastAPI, session: Session) -> None:
    alice = make_user(session, "alice")
    alice_token = token_for(session, alice)
    dataset_id = _upload(app, alice_token, "keep-me")
    project = make_project(session, dataset=str(dataset_id))
    add_member(session, project, alice, "owner")
    run = make_run(session, project, status="running")
    with client_as(app, token_for(session, None, kind="worker")) as worker:
        refused = {
            "delete a dataset": worker.delete(f"/api/v1/datasets/{dataset_id}"),
            "create a project": worker.post("/api/v1/projects", json={"name": "x", "dataset": "digits"}),
            "create a run": worker.post("/api/v1/runs", json={"project_id": project.id, "external": True}),
            "cancel a run": worker.post(f"/api/v1/runs/{run.id}/cancel"),
            "apply corrections": worker.post(f"/api/v1/projects/{project.id}/label-corrections/apply"),
            "correct a label": worker.put(
                f"/api/v1/projects/{project.id}/label-corrections/e1", json={"corrected_label": "1"}
            ),
            "list projects": worker.get("/api/v1/projects"),
            "read errors": worker.get(f"/api/v1/runs/{run.id}/errors"),
            "open a page": worker.get(f"/runs/{run.id}"),
            "cancel from a page": worker.post(f"/runs/{run.id}/cancel", data={"csrf_token": "x"}),
        }
        assert {what: r.status_code for what, r in refused.items() if r.status_code != 403} == {}
    with client_as(app, alice_token) as as_alice:
        assert as_alice.get(f"/api/v1/datasets/{dataset_id}").status_code == 200
        assert as_alice.get(f"/api/v1/runs/{run.id}").json()["status"] == "running"
        assert as_alice.get("/api/v1/projects").json()["total"] == 1


def test_a_worker_announces_its_slots_and_says_goodbye_but_lists_nothing(
    app: FastAPI, session: Session
) -> None:
    body = {"id": "box:1", "hostname": "box", "concurrency": 2, "active_runs": 1, "device": "cpu"}
    with client_as(app, token_for(session, None, kind="worker")) as worker:
        assert worker.post("/api/v1/workers/heartbeat", json=body).status_code == 200
        assert worker.get("/api/v1/workers").status_code == 403
    with client_as(app, token_for(session, make_user(session, "alice"))) as alice:
        assert alice.get("/api/v1/workers").json()["slots"]["free"] == 1
        # A user's token cannot add slots no worker has, nor take a worker's away.
        refused = alice.post("/api/v1/workers/heartbeat", json={**body, "concurrency": 64})
        assert refused.status_code == 403 and "use a worker token" in refused.json()["detail"]
        assert alice.delete("/api/v1/workers/box:1").status_code == 403
    with client_as(app, token_for(session, None, kind="worker")) as worker:
        assert worker.delete("/api/v1/workers/box:1").status_code == 204
