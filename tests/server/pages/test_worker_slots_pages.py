"""The project page and the new-run form say how many worker slots are free, from what workers announced."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_project
from tests.server.pages.html import texts

NO_WORKER = "No worker is running: queued runs wait until one starts (trainboard worker, or trainboard up)."


def _announce(client: TestClient, worker_id: str, concurrency: int, active_runs: int) -> None:
    body = {"id": worker_id, "hostname": "box", "concurrency": concurrency, "active_runs": active_runs}
    assert client.post("/api/v1/workers/heartbeat", json=body).status_code == 200


def test_project_page_and_run_form_say_no_worker_is_running(client: TestClient, session: Session) -> None:
    project = make_project(session)
    assert texts(client.get(f"/projects/{project.id}").text, "worker-slots") == [NO_WORKER]
    assert texts(client.get(f"/projects/{project.id}/runs/new").text, "worker-slots") == [NO_WORKER]


def test_project_page_and_run_form_count_free_slots(client: TestClient, session: Session) -> None:
    project = make_project(session)
    _announce(client, "box:1", concurrency=2, active_runs=1)
    _announce(client, "box:2", concurrency=1, active_runs=0)
    expected = ["2 of 3 worker slots free (2 workers running, 1 slot training)."]
    assert texts(client.get(f"/projects/{project.id}").text, "worker-slots") == expected
    assert texts(client.get(f"/projects/{project.id}/runs/new").text, "worker-slots") == expected


def test_a_project_of_external_runs_shows_no_worker_slots(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    assert texts(client.get(f"/projects/{project.id}").text, "worker-slots") == []
