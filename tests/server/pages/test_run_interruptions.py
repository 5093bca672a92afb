"""A run cut off by a worker's restart says so on its page, and says it resumed once a worker takes it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import log_points, make_project, make_run
from tests.server.pages.html import table_rows


def _banner(client: TestClient, run_id: int) -> str:
    page = client.get(f"/runs/{run_id}").text
    assert 'id="run-error"' not in page  # it is not a failure: it carries on
    start = page.index('id="run-interrupted"')
    return " ".join(page[start : page.index("</div>", start)].split())


def test_a_run_handed_back_mid_training_says_where_it_resumes(client: TestClient, session: Session) -> None:
    project = make_project(session)
    run = make_run(session, project, status="queued")
    assert client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-1"}).status_code == 200
    log_points(session, run, {"train_error": [0.5, 0.4, 0.3], "dev_error": [0.5, 0.45, 0.4]})
    assert 'id="run-interrupted"' not in client.get(f"/runs/{run.id}").text  # the first attempt, going

    released = client.post(f"/api/v1/runs/{run.id}/release", json={"worker": "box-1", "reason": "SIGTERM"})
    assert released.status_code == 200, released.text
    banner = _banner(client, run.id)
    assert "Interrupted, resuming from epoch 4:" in banner
    assert "handed back by box-1: SIGTERM" in banner

    assert client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-2"}).status_code == 200
    banner = _banner(client, run.id)
    assert "Resumed after an interruption</strong> (handed back by box-1: SIGTERM)" in banner
    assert "box-2" in banner and "3 epochs logged so far" in banner
    assert "Interrupted 1 time so far." in banner


def test_a_run_whose_worker_died_says_so_once_the_reaper_requeues_it(
    client: TestClient, session: Session
) -> None:
    from datetime import UTC, datetime, timedelta

    from server.services.reaper import reap_stale_runs
    from tests.server.services.test_reaper import InspectableQueue

    project = make_project(session)
    run = make_run(session, project, status="queued")
    assert client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-1"}).status_code == 200
    log_points(session, run, {"train_error": [0.5, 0.4]})

    later = datetime.now(UTC) + timedelta(seconds=300)
    reap_stale_runs(
        session=session, queue=InspectableQueue(None), heartbeat_timeout_s=120, max_attempts=3, at=later
    )

    banner = _banner(client, run.id)
    assert "Interrupted, resuming from epoch 3:" in banner
    assert "its worker box-1 stopped reporting (no heartbeat for 120 s)" in banner


def _attempt_rows(client: TestClient, run_id: int) -> list[list[str]]:
    """The attempts table without its times: number, worker, how it ended, from epoch."""
    rows = table_rows(client.get(f"/runs/{run_id}").text, "attempts-table")
    return [[row[0], row[1], row[4], row[5]] for row in rows]


def test_the_run_page_shows_each_attempt_after_an_interruption(client: TestClient, session: Session) -> None:
    from datetime import UTC, datetime, timedelta

    from server.services.reaper import reap_stale_runs
    from tests.server.services.test_reaper import InspectableQueue

    project = make_project(session)
    run = make_run(session, project, status="queued")
    client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-1"})
    assert 'id="attempts"' not in client.get(f"/runs/{run.id}").text  # one attempt, uninterrupted: no table
    log_points(session, run, {"dev_error": [0.5, 0.4]})
    client.post(f"/api/v1/runs/{run.id}/release", json={"worker": "box-1", "reason": "SIGTERM"})
    client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-2"})
    log_points(session, run, {"dev_error": [0.35]}, first_step=3)
    later = datetime.now(UTC) + timedelta(seconds=300)
    reap_stale_runs(
        session=session, queue=InspectableQueue(None), heartbeat_timeout_s=120, max_attempts=3, at=later
    )

    assert "Interrupted, resuming from epoch 4:" in _banner(client, run.id)
    assert _attempt_rows(client, run.id) == [
        ["1", "box-1", "handed back on stop (SIGTERM)", "1"],
        ["2", "box-2", "worker went silent: re-queued by the reaper (no heartbeat for 120 s)", "3"],
    ]

    client.post(f"/api/v1/runs/{run.id}/start", json={"worker": "box-3"})
    client.post(f"/api/v1/runs/{run.id}/finish", json={"status": "succeeded"})
    rows = _attempt_rows(client, run.id)
    assert rows[2] == ["3", "box-3", "succeeded", "4"]
    table = client.get(f"/runs/{run.id}").text
    started, ended = table_rows(table, "attempts-table")[0][2:4]
    assert started.endswith(" UTC") and ended.endswith(" UTC") and started <= ended
