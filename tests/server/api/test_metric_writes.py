"""What a batch of points leaves behind besides the points: the run's summaries and the per-bucket rollups
that long charts are read from. The server computes them from a batch of new points (metrics.rollups), and
PostgreSQL from what a batch that re-sends points newly stored; all must match a recount from the stored
points, whatever the batches repeat or reorder."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.schemas import as_utc
from server.services.metrics import ROLLUP_WIDTHS
from server.tables import MetricPoint, MetricRollup, RunSummary
from tests.factories import make_project, make_run


def test_rollups_and_summaries_match_a_recount_of_the_stored_points(
    client: TestClient, session: Session
) -> None:
    run_id = make_run(session, make_project(session), status="running").id
    rng = np.random.default_rng(5)
    # Overlapping and out-of-order batches; values rounded so that minima and maxima tie within a bucket.
    # The last is stored on SQLite in three statements of 6,000 points: two meet stored points, one does not.
    batches = [
        range(0, 300),
        range(200, 1100),
        [5000, 70, 4100, 64, 63, 1_000_000, 999_999],
        range(900, 8000),
    ]
    seen: set[int] = set()
    for steps in batches:
        points = [
            {"key": key, "step": step, "value": round(float(rng.normal()), 1)}
            for step in steps
            for key in ("loss", "NULL")  # a key spelled like SQL's NULL is still a key
        ]
        response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
        assert response.json() == {"accepted": 2 * len(set(steps) - seen)}  # the points stored now
        seen |= set(steps)

    stored: dict[str, dict[int, float]] = defaultdict(dict)
    for key, step, value in session.execute(
        select(MetricPoint.key, MetricPoint.step, MetricPoint.value).where(MetricPoint.run_id == run_id)
    ):
        stored[key][step] = value
    every_step = set().union(*batches)
    assert {key: set(steps) for key, steps in stored.items()} == {"loss": every_step, "NULL": every_step}
    rollups = session.execute(select(MetricRollup).where(MetricRollup.run_id == run_id)).scalars().all()
    expected_groups = {
        (key, width, step // width)
        for key, steps in stored.items()
        for step in steps
        for width in ROLLUP_WIDTHS
    }
    assert {(r.key, r.width, r.bucket) for r in rollups} == expected_groups
    for r in rollups:
        bucket = {s: v for s, v in stored[r.key].items() if s // r.width == r.bucket}
        assert r.n == len(bucket), (r.key, r.width, r.bucket)
        assert (r.min_value, r.max_value) == (min(bucket.values()), max(bucket.values()))
        assert bucket[r.min_step] == r.min_value and bucket[r.max_step] == r.max_value
    summaries = session.execute(
        select(RunSummary.key, RunSummary.step, RunSummary.value).where(RunSummary.run_id == run_id)
    ).all()
    assert sorted(summaries) == sorted((key, max(steps), steps[max(steps)]) for key, steps in stored.items())


def test_each_point_keeps_its_own_timestamp_and_unstamped_ones_get_the_servers_time(
    client: TestClient, session: Session
) -> None:
    run_id = make_run(session, make_project(session), status="running").id
    sent = {
        0: "2026-03-01T10:00:00+00:00",
        1: "2026-03-01T12:30:00+02:00",  # another offset: the same instant as 10:30 UTC
        2: "2026-03-01T10:00:00+00:00",  # a stamp shared with step 0
        3: "2026-03-01T11:00:00",  # naive: read as UTC
        4: None,
    }
    points = [
        {"key": "loss", "step": step, "value": 0.5} | ({"timestamp": stamp} if stamp else {})
        for step, stamp in sent.items()
    ]
    before = datetime.now(UTC)
    assert client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points}).status_code == 200
    after = datetime.now(UTC)
    kept = dict(
        session.execute(
            select(MetricPoint.step, MetricPoint.timestamp).where(MetricPoint.run_id == run_id)
        ).all()
    )
    utc = {step: as_utc(stamp) for step, stamp in kept.items()}  # SQLite reads back naive UTC
    assert utc[0] == utc[2] == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert utc[1] == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert utc[3] == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert before - timedelta(seconds=1) <= utc[4] <= after + timedelta(seconds=1)
