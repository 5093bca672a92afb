"""Contracts that keep Trainboard fast at scale: idempotent bulk ingestion, rollup-based downsampling of
long series, and keyset paging that never repeats or skips a run (timings live in bench/)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.learning_curves import merge_extremes
from server.services.metrics.series import RAW_FACTOR
from server.tables import MetricPoint, MetricRollup
from tests.factories import log_points, make_project, make_run


def _loss(step: int) -> float:
    # A decaying curve with one spike and one dip, so the extremes are known.
    return math.exp(-step / 20_000) + (3.0 if step == 41_234 else 0.0) - (3.0 if step == 17_777 else 0.0)


def test_batch_of_100000_points_with_duplicates_stores_each_point_once(
    client: TestClient, session: Session
) -> None:
    run_id = make_run(session, make_project(session), status="running").id
    url = f"/api/v1/runs/{run_id}/metrics"
    loss = [{"key": "loss", "step": s, "value": _loss(s)} for s in range(60_000)]
    acc = [{"key": "acc", "step": s, "value": s / 30_000} for s in range(30_000)]
    repeats = loss[:10_000]  # the same points twice in one batch
    assert client.post(url, json={"metrics": loss + acc + repeats}).json() == {"accepted": 90_000}
    # Sent again with other values: the first value stays, and nothing is stored twice.
    again = [{**p, "value": 99.0} for p in loss[20_000:70_000]]
    assert client.post(url, json={"metrics": again}).status_code == 200

    count = select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id)
    assert session.scalar(count) == 90_000
    assert session.scalar(count.where(MetricPoint.value == 99.0)) == 0
    # The rollups counted each stored point once, at every width.
    widths = session.execute(
        select(MetricRollup.width, func.sum(MetricRollup.n))
        .where(MetricRollup.run_id == run_id, MetricRollup.key == "loss")
        .group_by(MetricRollup.width)
    ).all()
    assert widths and all(total == 60_000 for _, total in widths)

    series = client.get(f"{url}/loss", params={"max_points": 500}).json()
    assert 60_000 > RAW_FACTOR * 500  # so this series is reduced from its rollups
    assert series["downsampled"] is True and series["total_points"] == 60_000
    assert len(series["points"]) <= 500
    steps = [s for s, _ in series["points"]]
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 59_999
    kept = dict(series["points"])
    assert kept[41_234] == max(_loss(s) for s in range(60_000))
    assert kept[17_777] == min(_loss(s) for s in range(60_000))
    assert all(kept[s] == _loss(s) for s in steps)  # real points, not averages
    assert client.get(f"/api/v1/runs/{run_id}").json()["summary"]["loss"] == _loss(59_999)


def test_short_series_is_downsampled_from_its_points(client: TestClient, session: Session) -> None:
    run_id = make_run(session, make_project(session), status="running").id
    points = [{"key": "x", "step": s, "value": math.sin(s / 7)} for s in range(5000)]
    client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    series = client.get(f"/api/v1/runs/{run_id}/metrics/x", params={"max_points": 5000}).json()
    assert series["downsampled"] is False and len(series["points"]) == 5000


@pytest.mark.parametrize("rows", [1, 7, 100, 1001])
@pytest.mark.parametrize("buckets", [1, 3, 50])
def test_merge_extremes_keeps_global_extremes_within_budget(rows: int, buckets: int) -> None:
    rng = np.random.default_rng(rows * buckets)
    min_steps = np.arange(rows, dtype=np.int64) * 10
    max_steps = min_steps + 5
    min_values = rng.normal(size=rows)
    max_values = min_values + rng.uniform(0, 1, size=rows)
    steps, values = merge_extremes(min_steps, min_values, max_steps, max_values, buckets)
    assert len(steps) <= 2 * buckets and np.all(np.diff(steps) > 0)
    assert values.min() == min_values.min() and values.max() == max_values.max()


def test_merge_extremes_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="buckets"):
        merge_extremes(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2), 0)
    with pytest.raises(ValueError, match="same length"):
        merge_extremes(np.zeros(2), np.zeros(2), np.zeros(3), np.zeros(2), 1)


@pytest.mark.parametrize("sort", ["dev_error", "-dev_error", "-id", "name", "-created_at", "variance"])
def test_cursor_pages_return_every_run_once_while_runs_are_added(
    client: TestClient, session: Session, sort: str
) -> None:
    project = make_project(session)
    rng = np.random.default_rng(7)

    def add_runs(n: int) -> set[int]:
        ids = set()
        for _ in range(n):
            run = make_run(session, project, status="succeeded")
            # A few runs have no dev_error (they sort last); values repeat, so ties need the id.
            if rng.uniform() > 0.2:
                log_points(session, run, {"dev_error": [float(rng.choice([0.1, 0.2, 0.3]))]})
            ids.add(run.id)
        return ids

    before = add_runs(23)
    seen: list[int] = []
    params: dict[str, object] = {"project_id": project.id, "sort": sort, "limit": 5}
    for _ in range(50):
        page = client.get("/api/v1/runs", params=params).json()
        seen += [run["id"] for run in page["items"]]
        add_runs(2)  # new runs land on either side of the cursor
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == len(set(seen)), "a run was returned twice"
    assert before <= set(seen), "a run that existed before paging began was skipped"


def test_bad_or_foreign_cursor_is_422(client: TestClient, session: Session) -> None:
    project = make_project(session)
    for _ in range(3):
        make_run(session, project)
    first = client.get("/api/v1/runs", params={"project_id": project.id, "limit": 2}).json()
    assert first["next_cursor"] is not None
    other = client.get("/api/v1/runs", params={"cursor": first["next_cursor"], "sort": "name"})
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["query", "cursor"]
    bad = client.get("/api/v1/runs", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]
    offset = client.get("/api/v1/runs", params={"project_id": project.id, "limit": 2, "offset": 2}).json()
    assert len(offset["items"]) == 1 and offset["next_cursor"] is None
