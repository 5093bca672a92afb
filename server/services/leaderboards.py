"""A project's leaderboard: its runs ranked by the optimizing metric among those that satisfice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from server.groups import MetricStats
from server.leaderboard import (
    Constraint,
    Standing,
    constraint_from_dict,
    describe,
    is_maximized,
    rank_runs,
)
from server.services.groups import metric_by_group
from server.services.projects import get_project
from server.tables import Run, RunSummary

#: Runs whose numbers mean nothing for a ranking: a cancelled run (a sweep's early-stopped trials are
#: cancelled too) holds the errors of an unfinished training, which would rank it on luck of timing.
UNRANKED_STATUSES = ("failed", "diverged", "cancelled")
INFINITY = float("inf")


@dataclass(frozen=True)
class Entry:
    run_id: int
    name: str
    status: str
    value: float | None
    rank: int | None
    broken: tuple[str, ...]
    # The run's seed group and the metric over its succeeded runs: is the run's value the config's or luck?
    group: str | None = None
    group_stats: MetricStats | None = None


@dataclass(frozen=True)
class Leaderboard:
    metric: str
    lower_is_better: bool
    constraints: tuple[str, ...]
    ranked: list[Entry]
    others: list[Entry]
    ranked_total: int
    others_total: int

    @property
    def has_groups(self) -> bool:
        """Whether any shown run belongs to a seed group (the group column is shown only then)."""
        return any(e.group is not None for e in [*self.ranked, *self.others])


def _finite(value: SQLColumnExpression[float]) -> ColumnElement[float | None]:
    """The value where it is finite, else NULL: what server.leaderboard treats as not logged."""
    return case((and_(value > -INFINITY, value < INFINITY), value), else_=None)


def _meets(constraint: Constraint, value: ColumnElement[float | None]) -> ColumnElement[bool]:
    """Constraint.broken_by in SQL, negated: NULL (not logged) fails it inside a CASE."""
    if constraint.max is not None:
        return value <= constraint.max
    assert constraint.min is not None  # a Constraint holds exactly one of max and min
    return value >= constraint.min


def project_leaderboard(*, session: Session, project_id: int, limit: int = 10) -> Leaderboard:
    """The best ``limit`` runs that meet every satisficing constraint, and ``limit`` others with why.

    Ranked in SQL with a LIMIT: at 10,000 runs only the totals and the ``2 * limit`` shown runs leave the
    database (ranking them all in Python took 300 ms of the project page). The shown runs then go
    through server.leaderboard.rank_runs, so ranks, order and reasons stay its own."""
    project = get_project(session=session, project_id=project_id)
    constraints = [constraint_from_dict(c) for c in project.satisficing or []]
    metric = project.optimizing_metric
    maximize = is_maximized(metric)
    query = select(Run.id).where(
        Run.project_id == project.id, Run.status.not_in(UNRANKED_STATUSES), Run.archived_at.is_(None)
    )
    summary = aliased(RunSummary)
    query = query.outerjoin(summary, and_(summary.run_id == Run.id, summary.key == metric))
    value = _finite(summary.value)
    constraint_meets: list[ColumnElement[bool]] = []
    for constraint in constraints:
        constraint_value, query = _joined_value(query, constraint.metric)
        constraint_meets.append(_meets(constraint, constraint_value))
    eligible = case((and_(value.is_not(None), *constraint_meets), 1), else_=0)
    connection = session.connection()
    count, ranked_total = connection.execute(
        query.with_only_columns(func.count(), func.coalesce(func.sum(eligible), 0))
    ).one()
    # The first `limit` of each group, in rank_runs' order. (One window-function query instead was
    # slower on SQLite: it sorts all 10,000 runs twice.) A group the totals say is empty is not queried.
    # The ranked runs' values are finite, so they are ordered by the stored value itself, which lets the
    # database walk run_summaries' (key, value) index and stop after `limit` runs instead of sorting all.
    ranked_ids: list[int] = []
    if ranked_total:
        finite = [summary.value > -INFINITY, summary.value < INFINITY]
        by_value = summary.value.desc() if maximize else summary.value.asc()
        ranked = query.where(*finite, *constraint_meets).order_by(by_value, Run.id).limit(limit)
        ranked_ids = list(connection.scalars(ranked))
    others_ids: list[int] = []
    if count > ranked_total:
        order = (value.is_(None), value.desc() if maximize else value.asc(), Run.id)
        others_ids = list(connection.scalars(query.where(eligible == 0).order_by(*order).limit(limit)))
    keys = {metric, *(c.metric for c in constraints)}
    shown = _shown_runs(session, [*ranked_ids, *others_ids], keys)
    standings = rank_runs(
        [(run_id, shown[run_id][1]) for run_id in [*ranked_ids, *others_ids]],
        metric=metric,
        constraints=constraints,
        maximize=maximize,
    )
    entries = _entries(session, project.id, metric, standings, shown)
    return Leaderboard(
        metric=metric,
        lower_is_better=not maximize,
        constraints=tuple(describe(c) for c in constraints),
        ranked=[e for e in entries if e.rank is not None],
        others=[e for e in entries if e.rank is None],
        ranked_total=int(ranked_total),
        others_total=int(count) - int(ranked_total),
    )


def _entries(
    session: Session,
    project_id: int,
    metric: str,
    standings: tuple[Standing, ...],
    shown: dict[int, tuple[Any, dict[str, float]]],
) -> list[Entry]:
    """The standings as rows, each with its seed group's mean, std and n of ``metric`` where it has one."""
    groups = {row.group for row, _ in shown.values() if row.group is not None}
    stats = (
        metric_by_group(session=session, project_id=project_id, groups=groups, key=metric) if groups else {}
    )
    entries = []
    for s in standings:
        row = shown[s.run_id][0]
        group_stats = stats.get(row.group) if row.group is not None else None
        entries.append(
            Entry(s.run_id, row.name, row.status, s.value, s.rank, s.broken, row.group, group_stats)
        )
    return entries


def _joined_value(query: Select[Any], key: str) -> tuple[ColumnElement[float | None], Select[Any]]:
    """The run's finite latest value of ``key`` (NULL when not logged), joined onto ``query``."""
    summary = aliased(RunSummary)
    joined = query.outerjoin(summary, and_(summary.run_id == Run.id, summary.key == key))
    return _finite(summary.value), joined


def _shown_runs(
    session: Session, run_ids: list[int], keys: set[str]
) -> dict[int, tuple[Any, dict[str, float]]]:
    """Name, status and group, and the ranking's metrics, of the few runs the leaderboard shows."""
    connection = session.connection()
    rows = connection.execute(select(Run.id, Run.name, Run.status, Run.group).where(Run.id.in_(run_ids)))
    shown: dict[int, tuple[Any, dict[str, float]]] = {row.id: (row, {}) for row in rows}
    values = select(RunSummary.run_id, RunSummary.key, RunSummary.value).where(
        RunSummary.run_id.in_(run_ids), RunSummary.key.in_(keys)
    )
    for run_id, key, value in connection.execute(values):
        shown[run_id][1][key] = value
    return shown
