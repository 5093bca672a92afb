"""Metric points out: a series in step order, downsampled from its points or, when long, its rollups
(server.services.metrics.series reads one series or many at one cost)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.schemas import MetricSeries
from server.services.metrics.series import check_runs_exist, read_many
from server.tables import RunSummary


def read_series(
    *,
    session: Session,
    run_id: int,
    key: str,
    max_points: int | None,
    raw_limit: int | None = None,
    after_step: int | None = None,
) -> MetricSeries:
    """One metric's points in step order; with max_points, reduced to at most that many, keeping its shape;
    with after_step, only the points after that step (none is no error: the series has nothing new).

    A long series is reduced from its rollups (per-bucket minima and maxima kept on write) plus its first
    and last points, at the same cost at every length (series_reads). A caller that needs only the shape
    (the diagnosis's curves) passes a small ``raw_limit`` to bound its cost."""
    check_runs_exist(session.connection(), [run_id])
    found = read_many(
        session.connection(), [(run_id, key)], max_points, after_step=after_step, raw_limit=raw_limit
    )
    if (run_id, key) in found:
        return found[run_id, key]
    if after_step is not None:
        return MetricSeries(key=key, points=[], downsampled=False, total_points=0)
    raise NotFound("Metric", f"{key!r} of run {run_id}")


def metric_keys(*, session: Session, run_id: int) -> list[str]:
    """The keys this run has logged."""
    return list(
        session.scalars(select(RunSummary.key).where(RunSummary.run_id == run_id).order_by(RunSummary.key))
    )
