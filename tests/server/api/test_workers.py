"""Workers announce themselves; GET /api/v1/workers lists those seen within the timeout, with their slots
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from server.tables import Worker
from trainboard.settings import get_settings


def beat(client: TestClient, worker_id: str = "box-1:100", **fields: Any) -> dict[str, Any]:
    body = {
        "id": worker_id,
        "hostname": worker_id.split(":")[0],
        "concurrency": 2,
        "active_runs": 0,
        **fields,
    }
    response = client.post("/api/v1/workers/heartbeat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_worker_that_announces_itself_is_listed_with_its_slots(client: TestClient) -> None:
    first = beat(client, concurrency=2, active_runs=0, device="cuda:0")
    assert first["id"] == "box-1:100" and first["device"] == "cuda:0"
    beat(client, "box-2:7", concurrency=1, active_runs=1)

    listed = client.get("/api/v1/workers").json()
    assert listed["count"] == 2
    assert [(w["id"], w["concurrency"], w["active_runs"]) for w in listed["data"]] == [
        ("box-1:100", 2, 0),
        ("box-2:7", 1, 1),
    ]
    assert listed["slots"] == {"workers": 2, "total": 3, "busy": 1, "free": 2}


def test_a_later_announcement_updates_the_worker_and_keeps_when_it_started(client: TestClient) -> None:
    first = beat(client, active_runs=0)
    second = beat(client, active_runs=2)
    assert second["started_at"] == first["started_at"]
    assert second["last_seen_at"] >= first["last_seen_at"]
    assert client.get("/api/v1/workers").json()["slots"] == {"workers": 1, "total": 2, "busy": 2, "free": 0}


def test_a_worker_silent_for_longer_than_the_timeout_no_longer_counts(
    client: TestClient, session: Session
) -> None:
    beat(client, "box-1:100")
    beat(client, "box-2:7")
    timeout = get_settings().worker_timeout_s
    long_ago = datetime.now(UTC) - timedelta(seconds=timeout + 5)
    session.execute(update(Worker).where(Worker.id == "box-1:100").values(last_seen_at=long_ago))
    session.commit()

    listed = client.get("/api/v1/workers").json()
    assert [w["id"] for w in listed["data"]] == ["box-2:7"]
    assert listed["slots"] == {"workers": 1, "total": 2, "busy": 0, "free": 2}

    beat(client, "box-1:100")  # it speaks again: live again
    assert client.get("/api/v1/workers").json()["count"] == 2


def test_no_worker_means_no_slot(client: TestClient) -> None:
    assert client.get("/api/v1/workers").json() == {
        "data": [],
        "count": 0,
        "slots": {"workers": 0, "total": 0, "busy": 0, "free": 0},
    }


def test_a_worker_that_stops_says_goodbye_and_its_slots_go_at_once(client: TestClient) -> None:
    beat(client, "box-1:100")
    assert client.delete("/api/v1/workers/box-1:100").status_code == 204
    assert client.get("/api/v1/workers").json()["count"] == 0
    assert client.delete("/api/v1/workers/box-1:100").status_code == 204  # a repeated goodbye is fine


def test_a_bad_announcement_is_422_naming_the_field(client: TestClient) -> None:
    body = {"id": "box:1", "hostname": "box", "concurrency": 0, "active_runs": 0}
    response = client.post("/api/v1/workers/heartbeat", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "concurrency"]
