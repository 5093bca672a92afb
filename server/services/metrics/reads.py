"""Metric points out: a series in step order, downsampled from its points or, when long, its rollups."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.learning_curves import downsample_minmax, merge_extremes
from server.schemas import MetricSeries
from server.services.metrics.rollups import ROLLUP_WIDTHS
from server.services.runs import get_run
from server.tables import MetricPoint, MetricRollup, RunSummary

# A series of up to this many points is downsampled from its points; a longer one from its rollups.
RAW_LIMIT = 50_000
# A read takes the finest width with at most this many buckets per point pair asked for (so at most
# 8 x max_points / 2 rows), then merges them in numpy down to max_points.
ROLLUP_OVERSAMPLING = 8


def read_series(
    *, session: Session, run_id: int, key: str, max_points: int | None, raw_limit: int = RAW_LIMIT
) -> MetricSeries:
    """One metric's points in step order; with max_points, reduced to at most that many, keeping its shape.

    A series longer than ``raw_limit`` is reduced from its rollups (per-bucket minima and maxima kept on
    write) plus its first and last points, so a million-point series reads a few thousand rows. A caller
    that needs only the shape (the diagnosis's curves) passes a small ``raw_limit`` to bound its cost."""
    get_run(session=session, run_id=run_id)
    if max_points is not None:
        total = session.scalar(
            select(func.sum(MetricRollup.n)).where(
                MetricRollup.run_id == run_id,
                MetricRollup.key == key,
                MetricRollup.width == ROLLUP_WIDTHS[-1],
            )
        )
        if total is not None and total > max(raw_limit, max_points):
            return _read_from_rollups(session, run_id, key, max_points, int(total))
    points = MetricPoint.__table__.c
    rows = (
        session.connection()
        .execute(
            select(points.step, points.value)
            .where(points.run_id == run_id, points.key == key)
            .order_by(points.step)
        )
        .all()
    )
    if not rows:
        raise NotFound("Metric", f"{key!r} of run {run_id}")
    steps = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    downsampled = max_points is not None and len(rows) > max_points
    if downsampled and max_points is not None:
        steps, values = downsample_minmax(steps, values, max_points)
    return MetricSeries(
        key=key, points=_pairs(steps, values), downsampled=downsampled, total_points=len(rows)
    )


def _read_from_rollups(session: Session, run_id: int, key: str, max_points: int, total: int) -> MetricSeries:
    points = MetricPoint.__table__.c
    ends = select(points.step, points.value).where(points.run_id == run_id, points.key == key).limit(1)
    first = session.connection().execute(ends.order_by(points.step)).one()
    last = session.connection().execute(ends.order_by(points.step.desc())).one()
    span = int(last[0]) - int(first[0])
    # The finest width whose bucket count (at most the span over the width, and the point count) fits.
    budget = (max_points - 2) // 2
    most = ROLLUP_OVERSAMPLING * budget
    width = next((w for w in ROLLUP_WIDTHS if min(total, span // w + 1) <= most), ROLLUP_WIDTHS[-1])
    buckets = MetricRollup.__table__.c
    rows = (
        session.connection()
        .execute(
            select(buckets.min_step, buckets.min_value, buckets.max_step, buckets.max_value)
            .where(buckets.run_id == run_id, buckets.key == key, buckets.width == width)
            .order_by(buckets.bucket)
        )
        .all()
    )
    # One column at a time with fromiter: np.array() over a list of Row objects is ~30x slower.
    count = len(rows)
    min_steps, min_values, max_steps, max_values = (
        np.fromiter((r[i] for r in rows), dtype=np.int64 if i % 2 == 0 else np.float64, count=count)
        for i in range(4)
    )
    steps, values = merge_extremes(min_steps, min_values, max_steps, max_values, budget)
    steps = np.concatenate([[first[0]], steps, [last[0]]]).astype(np.int64)
    values = np.concatenate([[first[1]], values, [last[1]]])
    steps, keep = np.unique(steps, return_index=True)
    return MetricSeries(key=key, points=_pairs(steps, values[keep]), downsampled=True, total_points=total)


def _pairs(steps: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    return list(zip(steps.tolist(), values.tolist(), strict=True))


def metric_keys(*, session: Session, run_id: int) -> list[str]:
    """The keys this run has logged."""
    return list(
        session.scalars(select(RunSummary.key).where(RunSummary.run_id == run_id).order_by(RunSummary.key))
    )
