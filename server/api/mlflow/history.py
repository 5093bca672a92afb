"""Metric histories in MLflow's terms: metrics/get-history (paged by step) and the sampled bulk read
(from Trainboard's rollups, as its own charts read them)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.mlflow.convert import to_ms
from server.api.mlflow.errors import invalid
from server.errors import NotFound
from server.learning_curves import downsample_minmax
from server.services import metrics
from server.tables import MetricPoint, Project, Run

HISTORY_PAGE = 25_000  # points per page when the caller names no max_results
MAX_HISTORY_PAGE = 100_000


def canonical_key(session: Session, run: Run, key: str) -> str:
    """The key the point was stored under: an alias of the project reads as its canonical key."""
    aliases = session.scalar(select(Project.metric_aliases).where(Project.id == run.project_id)) or {}
    return aliases.get(key, key)


def _point(key: str, step: int, value: float, stamp: Any, run_id: int | None = None) -> dict[str, Any]:
    point = {"key": key, "value": value, "timestamp": to_ms(stamp) or 0, "step": step}
    if run_id is not None:
        point["run_id"] = str(run_id)
    return point


def get_history(
    session: Session, run: Run, key: str, *, max_results: int | None, page_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The series' points in step order, a page at a time; the token is the next page's first step."""
    size = max_results or HISTORY_PAGE
    if not 1 <= size <= MAX_HISTORY_PAGE:
        raise invalid(f"Invalid value for 'max_results': {size}, expected 1 to {MAX_HISTORY_PAGE}")
    after = -1
    if page_token:
        if not (page_token.isascii() and page_token.isdigit() and len(page_token) < 20):
            raise invalid(
                f"Invalid page token {page_token[:50]!r}: pass next_page_token from the previous page"
            )
        after = int(page_token) - 1
    stored = canonical_key(session, run, key)
    points = MetricPoint.__table__.c
    rows = session.execute(
        select(points.step, points.value, points.timestamp)
        .where(points.run_id == run.id, points.key == stored, points.step > after)
        .order_by(points.step)
        .limit(size + 1)
    ).all()
    page = [_point(key, step, value, stamp) for step, value, stamp in rows[:size]]
    return page, str(rows[size][0]) if len(rows) > size else None


def sampled(
    session: Session, run: Run, key: str, *, max_results: int, start_step: int | None, end_step: int | None
) -> list[dict[str, Any]]:
    """At most `max_results` points of the series that keep its shape (minima and maxima survive)."""
    stored = canonical_key(session, run, key)
    if start_step is None and end_step is None:
        try:
            series = metrics.read_series(
                session=session, run_id=run.id, key=stored, max_points=max(max_results, 2)
            )
        except NotFound:
            return []
        pairs = series.points
    else:
        points = MetricPoint.__table__.c
        query = select(points.step, points.value).where(points.run_id == run.id, points.key == stored)
        if start_step is not None:
            query = query.where(points.step >= start_step)
        if end_step is not None:
            query = query.where(points.step <= end_step)
        rows = session.execute(query.order_by(points.step)).all()
        steps = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        if len(rows) > max_results:
            steps, values = downsample_minmax(steps, values, max(max_results, 2))
        pairs = list(zip(steps.tolist(), values.tolist(), strict=True))
    stamps = _stamps(session, run.id, stored, [int(step) for step, _ in pairs])
    return [_point(key, int(step), value, stamps.get(int(step)), run.id) for step, value in pairs]


def _stamps(session: Session, run_id: int, key: str, steps: list[int]) -> dict[int, Any]:
    points = MetricPoint.__table__.c
    found: dict[int, Any] = {}
    for start in range(0, len(steps), 1000):
        chunk = steps[start : start + 1000]
        rows = session.execute(
            select(points.step, points.timestamp).where(
                points.run_id == run_id, points.key == key, points.step.in_(chunk)
            )
        )
        found.update({step: stamp for step, stamp in rows})
    return found
