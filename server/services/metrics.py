"""Metric points in (batched, idempotent) and out (shape-keeping downsampling)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInput, NotFound
from server.learning_curves import downsample_minmax
from server.schemas import MetricPointIn, MetricSeries
from server.services.runs import get_run, now
from server.services.upsert import insert_for
from server.tables import MetricPoint, RunSummary

# Rows per INSERT statement: below SQLite's bound-parameter limit, large enough to amortise round trips.
CHUNK = 5000


def ingest_metrics(*, session: Session, run_id: int, points: list[MetricPointIn]) -> int:
    """Store the points once each per (run, key, step) and keep the run's summary current."""
    run = get_run(session=session, run_id=run_id)
    finite = [p for p in points if math.isfinite(p.value)]
    # Non-finite points are refused, except from a run already marked diverged: those are dropped.
    if len(finite) != len(points) and run.status != "diverged":
        index = next(i for i, p in enumerate(points) if not math.isfinite(p.value))
        bad = points[index]
        raise InvalidInput(
            ["body", "metrics", index, "value"],
            f"{bad.key} at step {bad.step} is {bad.value}: metric values must be finite "
            "(finish the run as 'diverged' to report a blown-up loss)",
        )
    stamp = now()
    rows = list({(p.key, p.step): _row(run_id, p, stamp) for p in finite}.values())
    statement = insert_for(session, MetricPoint).on_conflict_do_nothing(
        index_elements=["run_id", "key", "step"]
    )
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, rows[start : start + CHUNK])
    _update_summaries(session, run_id, rows)
    if run.status == "running":
        run.heartbeat_at = stamp
    session.commit()
    return len(finite)


def _row(run_id: int, point: MetricPointIn, stamp: datetime) -> dict[str, object]:
    return {
        "run_id": run_id,
        "key": point.key,
        "step": point.step,
        "value": point.value,
        "timestamp": point.timestamp or stamp,
    }


def _update_summaries(session: Session, run_id: int, rows: list[dict[str, object]]) -> None:
    latest: dict[str, dict[str, object]] = {}
    for row in rows:
        key = str(row["key"])
        if key not in latest or int(row["step"]) >= int(latest[key]["step"]):  # type: ignore[call-overload]
            latest[key] = row
    if not latest:
        return
    insert = insert_for(session, RunSummary)
    statement = insert.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={"step": insert.excluded.step, "value": insert.excluded.value},
        where=RunSummary.step <= insert.excluded.step,
    )
    session.execute(
        statement,
        [
            {"run_id": run_id, "key": key, "step": row["step"], "value": row["value"]}
            for key, row in latest.items()
        ],
    )


def read_series(*, session: Session, run_id: int, key: str, max_points: int | None) -> MetricSeries:
    """One metric's points in step order; with max_points, reduced to at most that many, keeping its shape."""
    get_run(session=session, run_id=run_id)
    rows = session.execute(
        select(MetricPoint.step, MetricPoint.value)
        .where(MetricPoint.run_id == run_id, MetricPoint.key == key)
        .order_by(MetricPoint.step)
    ).all()
    if not rows:
        raise NotFound("Metric", f"{key!r} of run {run_id}")
    steps = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    downsampled = max_points is not None and len(rows) > max_points
    if downsampled and max_points is not None:
        steps, values = downsample_minmax(steps, values, max_points)
    points = list(zip(steps.tolist(), values.tolist(), strict=True))
    return MetricSeries(key=key, points=points, downsampled=downsampled, total_points=len(rows))


def metric_keys(*, session: Session, run_id: int) -> list[str]:
    """The keys this run has logged."""
    return list(
        session.scalars(select(RunSummary.key).where(RunSummary.run_id == run_id).order_by(RunSummary.key))
    )
