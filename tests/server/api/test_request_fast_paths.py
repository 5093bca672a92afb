"""What the per-request shortcuts of the two hottest routes must keep: the run list's documented shape, the
rollups' choice of extreme steps (PostgreSQL merges them from the finest buckets), and the heartbeat a
batch moves without loading the run."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.schemas import RunsPage
from server.services.metrics import ROLLUP_WIDTHS
from server.tables import MetricRollup, Run
from tests.factories import make_project, make_run


def test_run_list_is_a_documented_runs_page(client: TestClient, session: Session) -> None:
    project = make_project(session)
    for _ in range(3):
        make_run(session, project)
    response = client.get("/api/v1/runs", params={"project_id": project.id, "limit": 2})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    page = RunsPage.model_validate_json(response.content)
    assert (page.total, len(page.items), page.next_cursor is not None) == (3, 2, True)
    schema = client.get("/openapi.json").json()["paths"]["/api/v1/runs"]["get"]["responses"]["200"]
    assert schema["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunsPage"}


def test_rollup_extremes_name_the_first_and_last_step_holding_them(
    client: TestClient, session: Session
) -> None:
    run_id = make_run(session, make_project(session), status="running").id
    # Few distinct values, so that minima and maxima repeat within every bucket of every width.
    steps = [*range(0, 2100), 5000, 70_000, 70_001]
    points = [{"key": "loss", "step": s, "value": float((s * 7919) % 5)} for s in steps]
    # One batch: across batches a tie keeps the step stored first (ON CONFLICT keeps the existing extreme).
    assert client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points}).status_code == 200

    values = {p["step"]: p["value"] for p in points}
    buckets: dict[tuple[int, int], dict[int, float]] = defaultdict(dict)
    for step, value in values.items():
        for width in ROLLUP_WIDTHS:
            buckets[width, step // width][step] = value
    rollups = session.scalars(select(MetricRollup).where(MetricRollup.run_id == run_id)).all()
    assert len(rollups) == len(buckets)
    for r in rollups:
        bucket = buckets[r.width, r.bucket]
        low, high = min(bucket.values()), max(bucket.values())
        first_low = min(s for s, v in bucket.items() if v == low)
        last_high = max(s for s, v in bucket.items() if v == high)
        assert (r.min_step, r.min_value, r.max_step, r.max_value) == (first_low, low, last_high, high), (
            r.bucket
        )


def test_a_batch_moves_the_heartbeat_of_a_running_run_only(client: TestClient, session: Session) -> None:
    project = make_project(session)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    running = make_run(session, project, status="running", heartbeat_at=long_ago)
    finished = make_run(session, project, status="succeeded", heartbeat_at=long_ago)
    for run in (running, finished):
        body = {"metrics": [{"key": "loss", "step": 1, "value": 0.5}]}
        assert client.post(f"/api/v1/runs/{run.id}/metrics", json=body).json() == {"accepted": 1}

    def beat(run: Run) -> datetime:
        stamp = client.get(f"/api/v1/runs/{run.id}").json()["heartbeat_at"]
        return datetime.fromisoformat(stamp)

    assert beat(running) > long_ago + timedelta(minutes=59)
    assert beat(finished) == long_ago
