"""An external run whose script was killed is failed with a reason, never left 'running' forever."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.services.reaper import reap_stale_runs
from server.tables import Run
from tests.factories import make_project, make_run
from trainboard.client import Client
from trainboard.client import Run as ClientRun


class NoBroker:
    def enqueue(self, run_id: int) -> bool:
        return True

    def ping(self) -> bool:
        return True

    def held_run_ids(self) -> set[int] | None:
        return None


def test_a_silent_external_run_fails_with_a_reason_and_a_beating_one_does_not(session: Session) -> None:
    at = datetime.now(UTC)
    project = make_project(session)
    started = at - timedelta(hours=2)
    killed = make_run(session, project, status="running", external=True, started_at=started)
    beating = make_run(
        session,
        project,
        status="running",
        external=True,
        started_at=started,
        heartbeat_at=at - timedelta(seconds=40),
    )
    worker_run = make_run(session, project, status="running", external=False, heartbeat_at=at)
    result = reap_stale_runs(
        session=session,
        queue=NoBroker(),
        heartbeat_timeout_s=120,
        max_attempts=3,
        external_timeout_s=600,
        at=at,
    )
    assert result.abandoned == [killed.id]
    session.expire_all()
    assert session.get(Run, killed.id).status == "failed"  # type: ignore[union-attr]
    assert "stopped reporting" in (session.get(Run, killed.id).error or "")  # type: ignore[union-attr]
    assert session.get(Run, beating.id).status == "running"  # type: ignore[union-attr]
    assert session.get(Run, worker_run.id).status == "running"  # type: ignore[union-attr]


def test_heartbeat_endpoint_moves_the_heartbeat_and_answers_the_status(
    client: TestClient, session: Session
) -> None:
    project_id = client.post("/api/v1/projects", json={"name": "beats", "dataset": "external"}).json()["id"]
    run_id = client.post("/api/v1/runs", json={"project_id": project_id, "external": True}).json()["id"]
    before = session.get(Run, run_id).heartbeat_at  # type: ignore[union-attr]
    assert client.post(f"/api/v1/runs/{run_id}/heartbeat").json() == {"status": "running"}
    session.expire_all()
    after = session.get(Run, run_id).heartbeat_at  # type: ignore[union-attr]
    assert after is not None and (before is None or after >= before)
    assert client.post("/api/v1/runs/999999/heartbeat").status_code == 404
    bad = client.post("/api/v1/runs/abc/heartbeat")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "run_id"]


def test_the_client_beats_while_its_process_lives() -> None:
    beats: list[str] = []
    seen = threading.Event()

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/heartbeat"):
            beats.append(request.url.path)
            if len(beats) >= 3:
                seen.set()
            return httpx.Response(200, json={"status": "running"})
        return httpx.Response(200, json={"status": "succeeded", "accepted": 0})

    client = Client("http://tb.test", token="", transport=httpx.MockTransport(api))
    run = ClientRun(client, {"id": 7}, heartbeat_interval_s=0.02)
    assert seen.wait(5), beats
    run.finish()
    count = len(beats)
    threading.Event().wait(0.1)
    assert len(beats) <= count + 1, "the heartbeat stops once the run is finished"
    assert set(beats) == {"/api/v1/runs/7/heartbeat"}


def test_a_reaped_run_resumed_by_its_script_goes_on_after_its_last_step(
    client: TestClient, session: Session
) -> None:
    """The script was killed, the reaper failed its run; restarted with resume=, it logs on from there."""
    import trainboard

    api = Client("http://testserver", token="", transport=client._transport)  # type: ignore[attr-defined]
    first = trainboard.init(project="resumable", config={"lr": 0.1}, client=api)
    for step in range(1, 4):
        first.log({"loss": 1 / step})
    first.flush()
    first._stop_finishing_at_exit()  # type: ignore[attr-defined]  # killed: it never finishes
    api.finish_run(int(first.id), "failed", "the script stopped reporting")  # as the reaper does
    again = trainboard.init(project="resumable", config={"lr": 0.1}, resume=int(first.id), client=api)
    again.log({"loss": 0.2})
    again.finish()
    run = client.get(f"/api/v1/runs/{first.id}").json()
    assert (run["status"], run["error"]) == ("succeeded", None)
    points = client.get(f"/api/v1/runs/{first.id}/metrics/loss").json()["points"]
    assert [step for step, _ in points] == [1, 2, 3, 4] and points[-1][1] == 0.2
