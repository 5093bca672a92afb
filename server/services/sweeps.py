"""Sweeps: validate a search space, run its trials as ordinary runs `parallelism` at a time, stop hopeless
trials early (ASHA, or the median rule over completed trials' best so far), and summarise the results (best
trial, importance, zoom in).

A sweep's target says who trains its trials: "zoo" sweeps queue built-in models to the workers here;
"script" sweeps hand their trials to `trainboard agent`, which asks for each (sweep_agents.next_trial)."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server import search
from server.datasets import get_dataset
from server.errors import Conflict, InvalidInput, NotFound
from server.queue import RunQueue
from server.schemas import (
    TERMINAL_STATUSES,
    EarlyStopping,
    RunConfig,
    SweepCreate,
)
from server.services.run_setup import dataset_version, enqueue_run, resolve_config
from server.services.runs.attempts import close_attempt, close_attempts
from server.tables import MetricPoint, Project, Run, Sweep, utcnow
from trainboard.params import flatten

DEFAULT_TRIALS = 20
#: Random candidates tried at submit time, on top of each parameter's extremes.
VALIDATION_SAMPLES = 8
EARLY_STOPPING_METRIC = "dev_error"


def get_sweep(*, session: Session, sweep_id: int) -> Sweep:
    """The sweep or NotFound."""
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise NotFound("Sweep", sweep_id)
    return sweep


# ---------------------------------------------------------------- validation


def parse_space(
    space: Any, loc: tuple[str, ...] = ("body", "space"), *, free_paths: bool = False
) -> search.SearchSpace:
    """The parsed space, or a 422 whose loc names the bad path (["body", "space", "hparams.lr"]).

    `free_paths`: a script sweep's parameters are any dotted names, not the run config's paths."""
    try:
        return search.parse_space(space, free_paths=free_paths)
    except search.InvalidSearchSpace as exc:
        where = [*loc] if exc.path == "space" else [*loc, exc.path]
        raise InvalidInput(where, exc.message) from None


def apply_params(base_config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base_config` with each dotted path set to its value."""
    config = copy.deepcopy(base_config)
    for path, value in params.items():
        node = config
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return config


def trial_config(*, project: Project, base_config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The resolved run config of one trial; a refused value is a 422 naming its space path."""
    config = apply_params(base_config, params)
    try:
        run_config = RunConfig.model_validate(config)
        resolved = resolve_config(project=project, config=run_config)
        # Every trial trains on the dataset version pinned when the sweep began (_zoo_base_config): a label
        # correction applied mid-sweep must not make later trials incomparable with earlier ones.
        return {**resolved, "dataset_version": dataset_version(project=project, config=run_config)}
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        raise _blame(params, loc, error["msg"]) from None
    except InvalidInput as exc:
        loc = [str(part) for part in exc.loc]
        if loc[:2] == ["body", "config"]:
            raise _blame(params, loc[2:], exc.message) from None
        raise


def _blame(params: dict[str, Any], loc: list[str], message: str) -> InvalidInput:
    path = ".".join(loc)
    for swept in params:
        if path == swept or path.startswith(swept + ".") or swept.startswith(path + "."):
            if "Extra inputs are not permitted" in message:
                return InvalidInput(["body", "space", swept], f"unknown config path {swept!r}")
            value = params[swept]
            return InvalidInput(["body", "space", swept], f"the model refuses {swept}={value!r}: {message}")
    return InvalidInput(["body", "base_config", *loc], message)


def validate_space(
    *, project: Project, base_config: dict[str, Any], space: search.SearchSpace, seed: int
) -> None:
    """Resolve candidate configs (each parameter at both ends of its range, then random draws) so that a
    path the config does not have, or a value the model refuses, fails at submit time."""
    draws = search.sample_random(space, VALIDATION_SAMPLES, seed)
    candidates: list[dict[str, Any]] = []
    for path, distribution in space.distributions.items():
        for value in distribution.extremes():
            candidates.append({**draws[0], path: value})
    for path, values in space.grid_values.items():
        candidates.extend({**draws[0], path: value} for value in values)
    for candidate in [*candidates, *draws]:
        trial_config(project=project, base_config=base_config, params=candidate)


# ---------------------------------------------------------------- create and advance


def _zoo_base_config(*, session: Session, project: Project, data: SweepCreate) -> dict[str, Any]:
    """The base config of a sweep of built-in models; a project without a built-in dataset has none."""
    if get_dataset(project.dataset, session=session) is None:
        raise InvalidInput(
            ["body", "target"],
            f"Project {project.name!r} has no built-in dataset ({project.dataset!r}), so the workers cannot "
            'train its trials: sweep your own script with "target": "script" and run `trainboard agent`',
        )
    base_config = data.base_config.model_dump(exclude_unset=True, mode="json")
    base_config["hparams"] = data.base_config.hparams.model_dump(exclude_unset=True, mode="json")
    try:
        base_config["dataset_version"] = dataset_version(project=project, config=data.base_config)
    except InvalidInput as exc:
        raise InvalidInput(["body", "base_config", "dataset_version"], exc.message) from None
    return base_config


def create_sweep(
    *,
    session: Session,
    data: SweepCreate,
    queue: RunQueue,
    parent_id: int | None = None,
    parent_run_id: int | None = None,
    trial_group: str | None = None,
) -> Sweep:
    """Validate the space, record the sweep and queue its first `parallelism` trials (a script sweep's
    trials wait for agents instead).

    `parent_run_id` and `trial_group` make the trials children of that run, in that seed group ("try next"
    and "repeat with seeds" of a run of your own script)."""
    project = session.get(Project, data.project_id)
    if project is None:
        raise InvalidInput(["body", "project_id"], f"Project {data.project_id} not found")
    script = data.target == "script"
    if script and "base_config" in data.model_fields_set:
        raise InvalidInput(
            ["body", "base_config"],
            "a sweep over your own script takes no base_config: the script keeps its own defaults and "
            "reads each trial's sampled values from run.config",
        )
    space = parse_space(data.space, free_paths=script)
    base_config: dict[str, Any] = {}
    if not script:
        base_config = _zoo_base_config(session=session, project=project, data=data)
        validate_space(project=project, base_config=base_config, space=space, seed=data.seed)
    if data.strategy == "grid":
        try:
            size = search.grid_size(space)
        except search.InvalidSearchSpace as exc:
            raise InvalidInput(["body", "space", exc.path], exc.message) from None
        budget = min(data.trials or size, size)
    else:
        budget = data.trials or DEFAULT_TRIALS
    sweep = Sweep(
        project_id=project.id,
        parent_id=parent_id,
        name=data.name or "",
        status="running",
        strategy=data.strategy,
        base_config=base_config,
        space=space.to_json(),
        trials=budget,
        parallelism=data.parallelism,
        early_stopping=data.early_stopping.model_dump() if data.early_stopping else None,
        seed=data.seed,
        target=data.target,
        parent_run_id=parent_run_id,
        trial_group=trial_group,
    )
    session.add(sweep)
    session.flush()
    if not sweep.name:
        sweep.name = f"sweep-{sweep.id}"
    session.commit()
    advance_sweep(session=session, sweep_id=sweep.id, queue=queue)
    return sweep


def trial_plan(sweep: Sweep) -> list[dict[str, Any]]:
    """Every trial's parameters, in order; regenerated from the seed, so nothing extra is stored."""
    space = search.parse_space(sweep.space, free_paths=sweep.target == "script")
    return search.suggest(space, strategy=sweep.strategy, n_trials=sweep.trials, seed=sweep.seed)


def _status_counts(session: Session, sweep_id: int) -> Counter[str]:
    rows = session.execute(
        select(Run.status, func.count()).where(Run.sweep_id == sweep_id).group_by(Run.status)
    ).all()
    return Counter({status: count for status, count in rows})


def advance_sweep(*, session: Session, sweep_id: int, queue: RunQueue) -> list[int]:
    """Queue trials up to `parallelism` while budget remains; mark the sweep finished when all are done.

    Returns the ids of the trials created. Safe to call from several processes at once: the first statement
    writes the sweep row, which locks it (PostgreSQL) or the database (SQLite) until the commit.
    """
    session.commit()
    session.execute(update(Sweep).where(Sweep.id == sweep_id).values(status=Sweep.status))
    sweep = get_sweep(session=session, sweep_id=sweep_id)
    session.refresh(sweep)
    if sweep.status != "running":
        session.commit()
        return []
    counts = _status_counts(session, sweep_id)
    created = sum(counts.values())
    active = counts["queued"] + counts["running"]
    if sweep.target == "script":
        # Agents take the trials themselves (sweep_agents.next_trial): only notice that the last one ended.
        created = sweep.handed_out
        n_open = 0
    else:
        n_open = sweep.parallelism - active
    if created >= sweep.trials and active == 0:
        sweep.status, sweep.finished_at = "finished", utcnow()
        session.commit()
        return []
    n_new = min(n_open, sweep.trials - created)
    if n_new <= 0:
        session.commit()
        return []
    project = session.get(Project, sweep.project_id)
    assert project is not None
    plan = trial_plan(sweep)
    new_runs = []
    for index in range(created, created + n_new):
        params = plan[index]
        run = Run(
            project_id=sweep.project_id,
            sweep_id=sweep.id,
            name=f"{sweep.name}-t{index + 1}",
            params=params,
            config=trial_config(project=project, base_config=sweep.base_config, params=params),
        )
        session.add(run)
        new_runs.append(run)
    session.commit()
    for run in new_runs:
        enqueue_run(session=session, run=run, queue=queue)
    return [run.id for run in new_runs]


def advance_after_trial(*, session: Session, run_id: int, queue: RunQueue) -> None:
    """When a sweep's trial has just ended (finished, cancelled, stopped early), queue the next one."""
    run = session.get(Run, run_id)
    if run is not None and run.sweep_id is not None and run.status in TERMINAL_STATUSES:
        advance_sweep(session=session, sweep_id=run.sweep_id, queue=queue)


def advance_all(*, session: Session, queue: RunQueue) -> None:
    """Advance every running sweep: the reaper's periodic pass, so sweeps survive a server restart."""
    for sweep_id in session.scalars(select(Sweep.id).where(Sweep.status == "running")).all():
        advance_sweep(session=session, sweep_id=sweep_id, queue=queue)


# ---------------------------------------------------------------- early stopping


def _rule(config: dict[str, Any]) -> search.AshaRule | search.MedianRule:
    options = EarlyStopping.model_validate(config)
    if options.rule == "median":
        return search.MedianRule(
            n_warmup_epochs=options.n_warmup_epochs,
            n_min_trials=options.n_min_trials,
            metric=EARLY_STOPPING_METRIC,
        )
    return search.AshaRule(min_epochs=options.min_epochs, eta=options.eta)


def on_metrics(*, session: Session, run: Run, points: Sequence[Sequence[Any]]) -> bool:
    """Decide, for a running trial that just logged its dev error, whether to stop it; True if stopped.

    A stopped trial becomes "cancelled" with stopped_early set; its worker stops at its next progress report.
    """
    if run.sweep_id is None or run.status != "running":
        return False
    sweep = session.get(Sweep, run.sweep_id)
    if sweep is None or not sweep.early_stopping:
        return False
    rule = _rule(sweep.early_stopping)
    # (key, step, value, ...) rows
    epochs = sorted({p[1] for p in points if p[0] == EARLY_STOPPING_METRIC and p[1] >= 1})
    if not epochs:
        return False
    if isinstance(rule, search.AshaRule):
        decision = _asha_decision(session, sweep, run, rule, epochs)
    else:
        decision = _median_decision(session, sweep, run, rule, epochs)
    if not decision.stop:
        return False
    run.status, run.stopped_early, run.error = "cancelled", True, decision.reason
    run.finished_at = utcnow()
    close_attempt(session=session, run_id=run.id, outcome="cancelled", reason=decision.reason)
    session.commit()
    return True


def _asha_decision(
    session: Session, sweep: Sweep, run: Run, rule: search.AshaRule, epochs: list[int]
) -> search.StopDecision:
    """ASHA: the trial's value at each epoch among every trial's value at that epoch (running ones too)."""
    max_epochs = _max_epochs(run)
    for epoch in epochs:
        values = dict(
            session.execute(
                select(MetricPoint.run_id, MetricPoint.value)
                .join(Run, Run.id == MetricPoint.run_id)
                .where(
                    Run.sweep_id == sweep.id,
                    MetricPoint.key == EARLY_STOPPING_METRIC,
                    MetricPoint.step == epoch,
                )
            ).all()
        )
        if run.id not in values:
            continue
        decision = rule.decide(epoch, values[run.id], list(values.values()), max_epochs=max_epochs)
        if decision.stop:
            return decision
    return search.CONTINUE


def _max_epochs(run: Run) -> int | None:
    """The epochs the trial trains for: its config's, or a script trial's `epochs` parameter."""
    if run.external:
        epochs = flatten(run.params or {}).get("epochs")
    else:
        epochs = (run.config or {}).get("hparams", {}).get("epochs")
    return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None


def _median_decision(
    session: Session, sweep: Sweep, run: Run, rule: search.MedianRule, epochs: list[int]
) -> search.StopDecision:
    """The median rule: this trial's curve against the others' (the rule keeps the completed ones)."""
    standing = {
        run_id: (status, stopped_early)
        for run_id, status, stopped_early in session.execute(
            select(Run.id, Run.status, Run.stopped_early).where(Run.sweep_id == sweep.id)
        )
    }
    curves: dict[int, dict[int, float]] = {run_id: {} for run_id in standing}
    for run_id, step, value in session.execute(
        select(MetricPoint.run_id, MetricPoint.step, MetricPoint.value)
        .join(Run, Run.id == MetricPoint.run_id)
        .where(
            Run.sweep_id == sweep.id,
            MetricPoint.key == EARLY_STOPPING_METRIC,
            MetricPoint.step >= 1,
            MetricPoint.step <= epochs[-1],
        )
    ):
        if run_id in curves:  # not a trial created since the first query
            curves[run_id][step] = value
    mine = curves.get(run.id, {})
    others = [
        search.TrialCurve(curves[run_id], status, stopped_early)
        for run_id, (status, stopped_early) in standing.items()
        if run_id != run.id
    ]
    for epoch in epochs:
        decision = rule.decide(epoch, mine, others) if epoch in mine else search.CONTINUE
        if decision.stop:
            return decision
    return search.CONTINUE


# ---------------------------------------------------------------- pause, resume, cancel


def pause_sweep(*, session: Session, sweep_id: int) -> Sweep:
    """Queue no more trials; the running ones finish."""
    sweep = get_sweep(session=session, sweep_id=sweep_id)
    if sweep.status != "running":
        raise Conflict(f"Sweep {sweep_id} is {sweep.status}, not running")
    sweep.status = "paused"
    session.commit()
    return sweep


def resume_sweep(*, session: Session, sweep_id: int, queue: RunQueue) -> Sweep:
    """Start queueing trials again."""
    sweep = get_sweep(session=session, sweep_id=sweep_id)
    if sweep.status != "paused":
        raise Conflict(f"Sweep {sweep_id} is {sweep.status}, not paused")
    sweep.status = "running"
    session.commit()
    advance_sweep(session=session, sweep_id=sweep_id, queue=queue)
    return sweep


def cancel_sweep(*, session: Session, sweep_id: int) -> Sweep:
    """Cancel the sweep and its queued and running trials."""
    sweep = get_sweep(session=session, sweep_id=sweep_id)
    if sweep.status in ("cancelled", "finished"):
        raise Conflict(f"Sweep {sweep_id} is already {sweep.status}")
    sweep.status, sweep.finished_at = "cancelled", utcnow()
    stopped = []
    for run in session.scalars(
        select(Run).where(Run.sweep_id == sweep_id, Run.status.in_(("queued", "running")))
    ):
        run.status, run.finished_at, run.error = "cancelled", utcnow(), "the sweep was cancelled"
        stopped.append(run.id)
    close_attempts(session=session, run_ids=stopped, outcome="cancelled", reason="the sweep was cancelled")
    session.commit()
    return sweep
