"""GET /api/v1/runs/{id}/attempts: each claim of a worker's run, how it ended and where it resumed
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.services.reaper import reap_stale_runs
from tests.factories import log_points, make_project, make_run
from tests.server.services.test_reaper import InspectableQueue


def _attempts(client: TestClient, run_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/runs/{run_id}/attempts")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]  # the API's JSON list


def _summary(attempts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(a["number"], a["worker"], a["outcome"], a["resumed_from_epoch"]) for a in attempts]


def test_a_handed_back_run_lists_each_attempt_and_the_epoch_it_resumed_from(
    client: TestClient, session: Session
) -> None:
    run = make_run(session, make_project(session), status="queued")
    assert _attempts(client, run.id) == []
    assert client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-1:10"}).status_code == 200
    log_points(session, run, {"dev_error": [0.5, 0.4, 0.3]})
    client.post(f"/api/v1/runs/{run.id}/release", json={"worker": "box-1:10", "reason": "SIGTERM"})
    assert client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-2:20"}).status_code == 200
    log_points(session, run, {"dev_error": [0.2, 0.1]}, first_step=4)
    client.post(f"/api/v1/runs/{run.id}/finish", json={"status": "succeeded"})

    attempts = _attempts(client, run.id)
    assert _summary(attempts) == [(1, "box-1:10", "handed_back", 1), (2, "box-2:20", "succeeded", 4)]
    assert attempts[0]["reason"] == "SIGTERM" and attempts[1]["reason"] is None
    assert all(a["ended_at"] is not None and a["ended_at"] >= a["started_at"] for a in attempts)


def test_the_reaper_closes_a_silent_workers_attempt_and_the_last_one_fails(
    client: TestClient, session: Session
) -> None:
    run = make_run(session, make_project(session), status="queued")
    queue = InspectableQueue(None)
    later = datetime.now(UTC)
    for worker in ("box-1:10", "box-2:20"):
        assert client.post(f"/api/v1/runs/{run.id}/start", json={"worker": worker}).status_code == 200
        later += timedelta(seconds=300)
        reap_stale_runs(session=session, queue=queue, heartbeat_timeout_s=120, max_attempts=2, at=later)

    attempts = _attempts(client, run.id)
    assert _summary(attempts) == [(1, "box-1:10", "requeued", 1), (2, "box-2:20", "timed_out", 1)]
    assert attempts[0]["reason"] == "no heartbeat for 120 s"
    assert client.get(f"/api/v1/runs/{run.id}").json()["status"] == "failed"


def test_an_open_attempt_ends_when_the_run_is_cancelled_or_claimed_again(
    client: TestClient, session: Session
) -> None:
    run = make_run(session, make_project(session), status="queued")
    client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-1:10"})
    assert _attempts(client, run.id)[0]["outcome"] is None  # still training
    # The same worker claims it again (a second delivery after its own restart): the first attempt is over.
    client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-1:10"})
    client.post(f"/api/v1/runs/{run.id}/cancel")
    assert _summary(_attempts(client, run.id)) == [
        (1, "box-1:10", "superseded", 1),
        (2, "box-1:10", "cancelled", 1),
    ]


def test_attempts_of_a_missing_run_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/runs/999999/attempts")
    assert response.status_code == 404
    assert response.json()["detail"] == "Run 999999 not found"


def test_a_sweep_trial_stopped_early_or_cancelled_with_its_sweep_ends_its_attempt(client: TestClient) -> None:
    project = client.post("/api/v1/projects", json={"name": "attempts", "dataset": "digits"}).json()
    body = {
        "project_id": project["id"],
        "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}},
        "trials": 4,
        "parallelism": 2,
        "early_stopping": {"rule": "asha", "min_epochs": 1, "eta": 2},
        "base_config": {"hparams": {"epochs": 4}},
    }
    sweep = client.post("/api/v1/sweeps", json=body).json()
    good, bad = (t["id"] for t in sweep["trials"])
    for run_id, errors in ((good, [0.1]), (bad, [0.9])):  # the second is far worse: ASHA stops it
        assert client.post(f"/api/v1/runs/{run_id}/start", json={"worker": f"w:{run_id}"}).status_code == 200
        points = [{"key": "dev_error", "step": e, "value": v} for e, v in enumerate(errors, start=1)]
        client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    assert client.get(f"/api/v1/runs/{bad}").json()["stopped_early"] is True
    [stopped] = _attempts(client, bad)
    assert stopped["outcome"] == "cancelled" and stopped["ended_at"] is not None

    assert client.post(f"/api/v1/sweeps/{sweep['id']}/cancel").status_code == 200
    [cancelled] = _attempts(client, good)
    assert (cancelled["outcome"], cancelled["reason"]) == ("cancelled", "the sweep was cancelled")
