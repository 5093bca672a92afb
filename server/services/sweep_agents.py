"""Sweeps over a user's own script: trials handed to `trainboard agent` one at a time, and the sweeps that
hand an agent copies of a run ("try next" with one knob changed, "repeat with seeds")."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import Conflict
from server.queue import RunQueue
from server.schemas import SweepCreate
from server.services import runs
from server.services.sweeps import create_sweep, get_sweep, trial_plan
from server.tables import Run, Sweep
from trainboard.params import flatten


def _run_with_key(session: Session, key: str, sweep_id: int) -> Run | None:
    """The trial an earlier /next with Idempotency-Key `key` handed out, or None."""
    run = session.scalar(select(Run).where(Run.idempotency_key == key))
    if run is not None and run.sweep_id != sweep_id:
        raise Conflict(f"Idempotency-Key {key!r} was already used for another request")
    return run


def next_trial(*, session: Session, sweep_id: int, idempotency_key: str | None = None) -> Run | None:
    """Hand the sweep's next trial to an agent: an external run, running, with the sampled `params`.

    None when no trial is left to hand out (budget reached, sweep paused, cancelled or finished). The trial
    is taken with a compare-and-set on the sweep's `handed_out` counter, the transaction's first statement:
    PostgreSQL makes a second agent's UPDATE wait for the first's commit and then re-checks the budget,
    and SQLite lets one writer at a time in, so no trial is handed out twice. A retried request with the
    same `idempotency_key` (its reply was lost) gets the trial the first one took.
    """
    sweep = get_sweep(session=session, sweep_id=sweep_id)
    if sweep.target != "script":
        raise Conflict(
            f"Sweep {sweep_id} trains built-in models, and the workers take its trials themselves: only a "
            'sweep with "target": "script" hands trials to trainboard agent'
        )
    if idempotency_key is not None and (earlier := _run_with_key(session, idempotency_key, sweep_id)):
        return earlier
    session.commit()
    taken = session.execute(
        update(Sweep)
        .where(Sweep.id == sweep_id, Sweep.status == "running", Sweep.handed_out < Sweep.trials)
        .values(handed_out=Sweep.handed_out + 1)
        .returning(Sweep.handed_out)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if taken is None:
        session.commit()
        return None
    session.refresh(sweep)
    index = taken - 1
    params = trial_plan(sweep)[index]
    parent = session.get(Run, sweep.parent_run_id) if sweep.parent_run_id is not None else None
    stamp = runs.now()
    run = Run(
        project_id=sweep.project_id,
        sweep_id=sweep.id,
        parent_id=parent.id if parent is not None else None,
        group=sweep.trial_group,
        name=trial_name(sweep, index, params, parent),
        params=params,
        config={},
        external=True,
        status="running",
        started_at=stamp,
        heartbeat_at=stamp,
        idempotency_key=idempotency_key,
    )
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        # Only the idempotency key is unique here: the same request, retried, took its trial first (and
        # this one's counter increment is rolled back with it).
        session.rollback()
        earlier = _run_with_key(session, idempotency_key, sweep_id) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
    return run


def trial_name(sweep: Sweep, index: int, params: dict[str, Any], parent: Run | None) -> str:
    """ "<sweep>-t3"; a copy of a run is named after the run and what it changes ("run-7 lr=0.001")."""
    if parent is None:
        return f"{sweep.name}-t{index + 1}"[:200]
    before = flatten(parent.params or {})
    changed = [f"{path}={value}" for path, value in params.items() if before.get(path, _MISSING) != value]
    return f"{parent.name} {', '.join(changed) or 'again'}"[:200]


_MISSING = object()


def copy_run_for_agents(
    *,
    session: Session,
    run: Run,
    values: dict[str, list[Any]],
    name: str,
    queue: RunQueue,
    group: str | None = None,
) -> Sweep:
    """A script sweep whose trials copy the run's parameters with `values` set: one trial per combination
    (one value each: a single copy). The trials become the run's children, in `group`."""
    space: dict[str, Any] = {path: {"choice": [value]} for path, value in flatten(run.params or {}).items()}
    space.update({path: {"choice": list(options)} for path, options in values.items()})
    data = SweepCreate(
        project_id=run.project_id,
        name=name[:200],
        target="script",
        space=space,
        strategy="grid",
        trials=math.prod(len(options) for options in values.values()),
    )
    return create_sweep(session=session, data=data, queue=queue, parent_run_id=run.id, trial_group=group)


def seed_parameter(params: dict[str, Any]) -> str:
    """The script's seed parameter: the one whose last dotted part is "seed" (when just one), else "seed"."""
    found = [path for path in flatten(params) if path.rsplit(".", 1)[-1] == "seed"]
    return found[0] if len(found) == 1 else "seed"


def try_next_for_agent(
    *, session: Session, run_id: int, changes: dict[str, Any], queue: RunQueue, name: str | None = None
) -> Sweep:
    """ "Try next" on a run of your own script: a one-trial sweep of its parameters with `changes` made,
    for `trainboard agent`; the trial becomes the run's child."""
    run = runs.get_run(session=session, run_id=run_id)
    if not run.external:
        raise Conflict(
            f"Run {run_id} is trained by the workers: POST /api/v1/runs/{run_id}/clone queues its copy"
        )
    label = ", ".join(f"{path}={value}" for path, value in changes.items())
    values = {path: [value] for path, value in changes.items()}
    return copy_run_for_agents(
        session=session, run=run, values=values, name=name or f"{run.name} {label}", queue=queue
    )
