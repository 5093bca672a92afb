"""Seed groups: runs that differ only by seed, their per-metric spread, and "repeat with N seeds"."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.groups import MAX_SEED, MetricStats, group_stats, next_seeds
from server.queue import RunQueue
from server.schemas import GroupMetric, GroupRead, GroupsPage
from server.services import sweep_agents
from server.services.experiments import clone_run
from server.services.projects import get_project
from server.services.runs import get_run, queue_recorded
from server.tables import Run, RunSummary, Sweep
from trainboard.params import flatten

#: Only these runs' numbers count toward a group's statistics (a failed or cancelled run's are partial).
COUNTED_STATUS = "succeeded"
#: Longest group name (runs.group).
MAX_GROUP = 200


def _succeeded_summaries(
    session: Session, project_id: int, groups: Iterable[str], keys: Iterable[str] | None = None
) -> dict[str, list[dict[str, float]]]:
    """Each group's succeeded runs' summaries (only ``keys`` when given), one dict per run."""
    query = (
        select(Run.group, RunSummary.run_id, RunSummary.key, RunSummary.value)
        .join(RunSummary, RunSummary.run_id == Run.id)
        .where(Run.project_id == project_id, Run.group.in_(list(groups)), Run.status == COUNTED_STATUS)
    )
    if keys is not None:
        query = query.where(RunSummary.key.in_(list(keys)))
    by_run: dict[int, tuple[str, dict[str, float]]] = {}
    for group, run_id, key, value in session.execute(query):
        if group is None:  # never: the query keeps only the groups named
            continue
        by_run.setdefault(run_id, (group, {}))[1][key] = value
    summaries: dict[str, list[dict[str, float]]] = {}
    for group, summary in by_run.values():
        summaries.setdefault(group, []).append(summary)
    return summaries


def succeeded_summaries(*, session: Session, project_id: int, group: str) -> list[dict[str, float]]:
    """The summaries of the group's succeeded runs, one dict per run (what its statistics are made of)."""
    return _succeeded_summaries(session, project_id, [group]).get(group, [])


def _group_reads(session: Session, project_id: int, names: list[str]) -> dict[str, GroupRead]:
    """The groups named, each with its run ids (oldest first) and its succeeded runs' statistics."""
    run_ids: dict[str, list[int]] = {name: [] for name in names}
    rows = session.execute(
        select(Run.group, Run.id).where(Run.project_id == project_id, Run.group.in_(names)).order_by(Run.id)
    )
    for group, run_id in rows:
        if group is not None:  # always: the query keeps only the groups named
            run_ids[group].append(run_id)
    summaries = _succeeded_summaries(session, project_id, names)
    return {
        name: GroupRead(
            group=name,
            n=len(run_ids[name]),
            run_ids=run_ids[name],
            summary={
                key: GroupMetric(mean=s.mean, std=s.std, n=s.n)
                for key, s in group_stats(summaries.get(name, [])).items()
            },
        )
        for name in names
        if run_ids[name]
    }


def groups_of(*, session: Session, project_id: int, names: list[str]) -> dict[str, GroupRead]:
    """The named groups of the project (those with runs), each with its run ids and statistics."""
    return _group_reads(session, project_id, names) if names else {}


def group_summary(*, session: Session, project_id: int, group: str) -> GroupRead:
    """One group of the project: its runs and, per metric, mean, sample std and n over the succeeded ones."""
    get_project(session=session, project_id=project_id)
    found = _group_reads(session, project_id, [group]).get(group)
    if found is None:
        raise NotFound("Group", repr(group))
    return found


def list_groups(*, session: Session, project_id: int, limit: int, offset: int) -> GroupsPage:
    """The project's groups, the one with the newest run first, each with its statistics."""
    get_project(session=session, project_id=project_id)
    names = select(Run.group).where(Run.project_id == project_id, Run.group.is_not(None)).group_by(Run.group)
    total = session.scalar(select(func.count()).select_from(names.subquery())) or 0
    ordered = names.order_by(func.max(Run.id).desc()).limit(limit).offset(offset)
    page = [name for name in session.scalars(ordered) if name is not None]
    reads = _group_reads(session, project_id, page)
    items = [reads[name] for name in page if name in reads]
    return GroupsPage(total=total, limit=limit, offset=offset, items=items)


def metric_by_group(
    *, session: Session, project_id: int, groups: Iterable[str], key: str
) -> dict[str, MetricStats]:
    """Mean, sample std and n of one metric over each group's succeeded runs (groups without it left out)."""
    summaries = _succeeded_summaries(session, project_id, set(groups), keys=[key])
    stats = {group: group_stats(runs).get(key) for group, runs in summaries.items()}
    return {group: s for group, s in stats.items() if s is not None}


def _new_group_name(session: Session, run: Run) -> str:
    """ "<run name> seeds", or with the run's id added when another group of the project has that name."""
    name = f"{run.name[: MAX_GROUP - len(' seeds')]} seeds"
    taken = session.scalar(select(Run.id).where(Run.project_id == run.project_id, Run.group == name).limit(1))
    if taken is None:
        return name
    suffix = f" seeds (run {run.id})"
    return f"{run.name[: MAX_GROUP - len(suffix)]}{suffix}"


def _seed(config: dict[str, Any] | None) -> int | None:
    """The run's hparams.seed (a resolved config always has one)."""
    hparams = (config or {}).get("hparams")
    seed = hparams.get("seed") if isinstance(hparams, dict) else None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


@dataclass(frozen=True)
class Repeated:
    """A run's copies with new seeds: queued runs for the workers, or a script sweep for trainboard agent."""

    group: str
    runs: list[Run]
    sweep: Sweep | None = None


def repeat_run(*, session: Session, run_id: int, seeds: int, queue: RunQueue) -> Repeated:
    """Copies of a run that differ only in their seed, in its group, as children of the run.

    The copies take seeds the group has not used yet (the run's seed + 1, + 2, ...). A run without a group
    gets a new one, "<run name> seeds". A worker-trained run's copies are queued (``hparams.seed``); a run
    of your own script gets a script sweep of its parameters, one trial per new value of its ``seed``
    parameter, for `trainboard agent`.
    """
    # Writing the run's row first locks it (PostgreSQL) or the database (SQLite) until the commit, so two
    # requests at once (a double click) take turns: the second sees the first's copies and their seeds.
    session.execute(update(Run).where(Run.id == run_id).values(group=Run.group))
    run = get_run(session=session, run_id=run_id)
    if run.group is None:
        run.group = _new_group_name(session, run)  # committed with the copies
    group = run.group
    if run.external:
        return Repeated(group, [], _repeat_for_agents(session, run, seeds, queue))
    configs = session.scalars(
        select(Run.config).where(
            Run.project_id == run.project_id, Run.group == group, Run.external.is_(False)
        )
    )
    used = {seed for config in configs if (seed := _seed(config)) is not None}
    try:
        children = [
            clone_run(
                session=session,
                run_id=run.id,
                changes={"hparams.seed": seed},
                queue=queue,
                name=f"{run.name[:180]} seed {seed}",
                group=group,
                commit=False,
            )
            for seed in next_seeds(_seed(run.config) or 0, used, seeds)
        ]
        session.commit()
    except Exception:
        session.rollback()
        raise
    for child in children:
        queue_recorded(session=session, run=child, queue=queue)
    return Repeated(group, children)


def _repeat_for_agents(session: Session, run: Run, seeds: int, queue: RunQueue) -> Sweep:
    """A script run's copies: seeds its group's runs (and sweeps not yet done) have not used."""
    path = sweep_agents.seed_parameter(run.params or {})
    used: set[Any] = set()
    for params in session.scalars(
        select(Run.params).where(
            Run.project_id == run.project_id, Run.group == run.group, Run.external.is_(True)
        )
    ):
        used.add(flatten(params or {}).get(path))
    for space in session.scalars(
        select(Sweep.space).where(
            Sweep.project_id == run.project_id,
            Sweep.trial_group == run.group,
            Sweep.status.in_(("running", "paused")),
        )
    ):
        used.update((space.get(path) or {}).get("choice", []))
    own = flatten(run.params or {}).get(path)
    base = own if isinstance(own, int) and not isinstance(own, bool) and 0 <= own <= MAX_SEED else 0
    new = next_seeds(base, {s for s in used if isinstance(s, int) and 0 <= s <= MAX_SEED}, seeds)
    try:
        return sweep_agents.copy_run_for_agents(
            session=session,
            run=run,
            values={path: new},
            name=f"{run.name[:180]} seeds",
            queue=queue,
            group=run.group,
        )
    except Exception:
        session.rollback()
        raise
