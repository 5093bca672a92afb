"""A project's leaderboard: its runs ranked by the optimizing metric among those that satisfice."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.leaderboard import Standing, constraint_from_dict, describe, is_maximized, rank_runs
from server.services.projects import get_project
from server.tables import Run, RunSummary

#: Runs whose numbers mean nothing for a ranking.
UNRANKED_STATUSES = ("failed", "diverged")


@dataclass(frozen=True)
class Entry:
    run_id: int
    name: str
    status: str
    value: float | None
    rank: int | None
    broken: tuple[str, ...]


@dataclass(frozen=True)
class Leaderboard:
    metric: str
    lower_is_better: bool
    constraints: tuple[str, ...]
    ranked: list[Entry]
    others: list[Entry]
    ranked_total: int
    others_total: int


def project_leaderboard(*, session: Session, project_id: int, limit: int = 10) -> Leaderboard:
    """The best ``limit`` runs that meet every satisficing constraint, and ``limit`` others with why."""
    project = get_project(session=session, project_id=project_id)
    constraints = [constraint_from_dict(c) for c in project.satisficing or []]
    # Only the columns and metric keys the ranking reads: loading 10,000 runs with every summary as ORM
    # objects took 2.9 s of a 3.1 s project page.
    keys = {project.optimizing_metric, *(c.metric for c in constraints)}
    eligible_runs = select(Run.id).where(Run.project_id == project.id, Run.status.not_in(UNRANKED_STATUSES))
    rows = session.execute(
        select(Run.id, Run.name, Run.status).where(Run.id.in_(eligible_runs)).order_by(Run.id)
    ).all()
    values: dict[int, dict[str, float]] = {row.id: {} for row in rows}
    summaries = session.execute(
        select(RunSummary.run_id, RunSummary.key, RunSummary.value).where(
            RunSummary.run_id.in_(eligible_runs), RunSummary.key.in_(keys)
        )
    )
    for run_id, key, value in summaries:
        values[run_id][key] = value
    by_id = {row.id: row for row in rows}
    maximize = is_maximized(project.optimizing_metric)
    standings = rank_runs(
        values.items(), metric=project.optimizing_metric, constraints=constraints, maximize=maximize
    )

    def entry(standing: Standing) -> Entry:
        row = by_id[standing.run_id]
        return Entry(row.id, row.name, row.status, standing.value, standing.rank, standing.broken)

    ranked = [entry(s) for s in standings if s.eligible]
    others = [entry(s) for s in standings if not s.eligible]
    return Leaderboard(
        metric=project.optimizing_metric,
        lower_is_better=not maximize,
        constraints=tuple(describe(c) for c in constraints),
        ranked=ranked[:limit],
        others=others[:limit],
        ranked_total=len(ranked),
        others_total=len(others),
    )
