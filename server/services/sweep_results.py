"""What a sweep found: its trials, progress counts, the best trial under the project's constraints, parameter
importance, the sampling preview of the form, and coarse-to-fine zooming into a new sweep."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from server import search
from server.errors import Conflict, InvalidInput
from server.leaderboard import describe
from server.queue import RunQueue
from server.schemas import (
    TERMINAL_STATUSES,
    EarlyStopping,
    ParameterImportance,
    RunConfig,
    SatisficingConstraint,
    SweepCounts,
    SweepCreate,
    SweepPreview,
    SweepRead,
    SweepsPage,
    SweepSummary,
    SweepTrial,
    SweepZoom,
)
from server.services.sweeps import create_sweep, get_sweep
from server.tables import Project, Run, Sweep


def _counts(sweep: Sweep, trials: list[Run]) -> SweepCounts:
    statuses = [run.status for run in trials]
    stopped = sum(1 for run in trials if run.stopped_early)
    done = sum(1 for status in statuses if status in TERMINAL_STATUSES)
    failed = sum(1 for status in statuses if status in ("failed", "diverged"))
    return SweepCounts(
        total=len(trials),
        done=done,
        running=statuses.count("running"),
        queued=statuses.count("queued"),
        stopped_early=stopped,
        failed=failed,
        remaining=max(0, sweep.trials - len(trials)),
    )


def _summary(sweep: Sweep, trials: list[Run]) -> dict[str, Any]:
    return {
        "id": sweep.id,
        "project_id": sweep.project_id,
        "parent_id": sweep.parent_id,
        "name": sweep.name,
        "status": sweep.status,
        "strategy": sweep.strategy,
        "target": sweep.target,
        "trial_budget": sweep.trials,
        "parallelism": sweep.parallelism,
        "created_at": sweep.created_at,
        "finished_at": sweep.finished_at,
        "counts": _counts(sweep, trials),
    }


def _trials(session: Session, sweep_id: int) -> list[Run]:
    # populate_existing: a long-lived session (the reaper's, a test's) must not serve stale summaries.
    query = select(Run).where(Run.sweep_id == sweep_id).order_by(Run.id)
    return list(session.scalars(query.execution_options(populate_existing=True)))


def _constraints(project: Project) -> list[search.Constraint]:
    return [search.Constraint(c["metric"], max=c.get("max"), min=c.get("min")) for c in project.satisficing]


def _summary_values(run: Run) -> dict[str, float]:
    return {s.key: s.value for s in run.summaries}


def _succeeded(trials: list[Run]) -> list[search.TrialResult]:
    return [search.TrialResult(run.id, _summary_values(run)) for run in trials if run.status == "succeeded"]


def _objective(run: Run, metric: str) -> float | None:
    value = next((s.value for s in run.summaries if s.key == metric), None)
    return value if value is not None and math.isfinite(value) else None


def read_sweep(*, session: Session, sweep_id: int) -> SweepRead:
    """The sweep with its trials, counts, best trial, the trials left out of the best, and importance."""
    sweep = get_sweep(session=session, sweep_id=sweep_id)
    project = sweep.project
    metric = project.optimizing_metric
    trials = _trials(session, sweep_id)
    best = search.best_trial(_succeeded(trials), metric=metric, constraints=_constraints(project))
    space = search.parse_space(sweep.space, free_paths=sweep.target == "script")
    sign = -1.0 if search.is_maximized(metric) else 1.0
    scored = [
        (run.params, sign * value)
        for run in trials
        if run.status in TERMINAL_STATUSES and (value := _objective(run, metric)) is not None
    ]
    importance = search.parameter_importance(space.distributions, scored, seed=sweep.seed)
    return SweepRead(
        **_summary(sweep, trials),
        handed_out=sweep.handed_out,
        parent_run_id=sweep.parent_run_id,
        trial_group=sweep.trial_group,
        base_config=sweep.base_config,
        space=sweep.space,
        scales={path: d.scale for path, d in space.distributions.items()},
        early_stopping=EarlyStopping.model_validate(sweep.early_stopping) if sweep.early_stopping else None,
        seed=sweep.seed,
        optimizing_metric=metric,
        satisficing=[SatisficingConstraint.model_validate(c) for c in project.satisficing],
        trials=[_trial(run) for run in trials],
        best_run_id=best.best_id,
        best_value=best.best_value,
        best_margin=best.margin,
        tied_run_ids=list(best.tied),
        excluded=best.excluded,
        importance=[ParameterImportance(path=path, importance=value) for path, value in importance],
    )


def _trial(run: Run) -> SweepTrial:
    return SweepTrial(
        id=run.id,
        name=run.name,
        status=run.status,
        stopped_early=run.stopped_early,
        params=run.params,
        summary=_summary_values(run),
        progress=run.progress,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def list_sweeps(
    *,
    session: Session,
    project_id: int | None,
    limit: int,
    offset: int,
    visible: Select[int] | None = None,
) -> SweepsPage:
    """A page of sweeps, newest first, with their progress counts; `visible` limits them to the caller's."""
    query = select(Sweep)
    if visible is not None:
        query = query.where(Sweep.project_id.in_(visible))
    if project_id is not None:
        query = query.where(Sweep.project_id == project_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    sweeps = list(session.scalars(query.order_by(Sweep.id.desc()).limit(limit).offset(offset)))
    trials: dict[int, list[Run]] = {sweep.id: [] for sweep in sweeps}
    for run in session.scalars(select(Run).where(Run.sweep_id.in_(trials))):
        if run.sweep_id is not None:  # always: the query keeps only these sweeps' runs
            trials[run.sweep_id].append(run)
    items = [SweepSummary(**_summary(sweep, trials[sweep.id])) for sweep in sweeps]
    return SweepsPage(total=total, limit=limit, offset=offset, items=items)


def zoom_sweep(*, session: Session, sweep_id: int, data: SweepZoom, queue: RunQueue) -> Sweep:
    """Coarse to fine: a new sweep over ranges shrunk around this sweep's best feasible trials.

    Only succeeded trials that meet every satisficing constraint are ranked (the same trials the best trial
    is chosen from), so the finer search stays where the constraints hold.
    """
    source = get_sweep(session=session, sweep_id=sweep_id)
    metric = source.project.optimizing_metric
    constraints = _constraints(source.project)
    trials = {run.id: run for run in _trials(session, sweep_id)}
    results = _succeeded(list(trials.values()))
    if not search.feasible_trials(results, metric=metric, constraints=[]):
        raise Conflict(f"Sweep {sweep_id} has no succeeded trial with {metric} to zoom in on")
    feasible = search.feasible_trials(results, metric=metric, constraints=constraints)
    if not feasible:
        named = ", ".join(describe(c) for c in constraints)
        raise Conflict(
            f"Sweep {sweep_id} has no succeeded trial that meets every satisficing constraint ({named}): "
            "zoom-in ranks only the trials that do"
        )
    sign = -1.0 if search.is_maximized(metric) else 1.0
    scored = [(trials[t.trial_id].params, sign * t.summary[metric]) for t in feasible]
    script = source.target == "script"
    space = search.parse_space(source.space, free_paths=script)
    zoomed = search.zoom_space(space, scored, top_k=data.top_k)
    # A script sweep has no base config: its script keeps its own defaults.
    base = {} if script else {"base_config": RunConfig.model_validate(source.base_config)}
    create = SweepCreate(
        project_id=source.project_id,
        name=data.name or f"{source.name}-zoom",
        target=source.target,
        **base,
        space=zoomed.space.to_json(),
        strategy="coarse_to_fine",
        trials=data.trials or source.trials,
        parallelism=data.parallelism or source.parallelism,
        early_stopping=EarlyStopping.model_validate(source.early_stopping) if source.early_stopping else None,
        seed=data.seed if data.seed is not None else source.seed + 1,
    )
    return create_sweep(session=session, data=create, queue=queue, parent_id=source.id)


def preview_distribution(*, distribution: dict[str, Any], n: int, seed: int) -> SweepPreview:
    """`n` seeded draws from one distribution, for the new-sweep form's preview."""
    try:
        parsed = search.parse_distribution("distribution", distribution)
    except search.InvalidSearchSpace as exc:
        raise InvalidInput(["body", "distribution"], exc.message) from None
    rng = np.random.default_rng(seed)
    return SweepPreview(values=[parsed.sample(rng) for _ in range(n)], scale=parsed.scale)
