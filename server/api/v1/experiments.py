"""Next experiments: "try next" clones of a run and its learning curve over data size."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from server import access
from server.api.deps import IdPath, QueueDep
from server.auth import ApiAuth
from server.db import SessionDep
from server.errors import NotFound
from server.schemas import RunClone, RunRead, SweepRead
from server.services import experiments, multitask, runs, sweep_agents, sweep_results

router = APIRouter(prefix="/runs", tags=["runs"])


@router.post("/{run_id}/clone", status_code=201)
def clone_run(
    run_id: IdPath, data: RunClone, session: SessionDep, queue: QueueDep, principal: ApiAuth
) -> RunRead:
    """Queue a child of the run with the same config and `changes` (dotted paths) applied."""
    access.check_change_runs(session, principal, data.changes)
    child = experiments.clone_run(
        session=session, run_id=run_id, changes=data.changes, queue=queue, name=data.name
    )
    return runs.to_read(child)


@router.post("/{run_id}/agent-copy", status_code=201)
def copy_run_for_agent(
    run_id: IdPath, data: RunClone, session: SessionDep, queue: QueueDep, _: ApiAuth
) -> SweepRead:
    """Try next for a run of your own script: a one-trial script sweep of its params with `changes` (dotted
    parameter names) made, for `trainboard agent`; the trial becomes the run's child."""
    sweep = sweep_agents.try_next_for_agent(
        session=session, run_id=run_id, changes=data.changes, queue=queue, name=data.name
    )
    return sweep_results.read_sweep(session=session, sweep_id=sweep.id)


@router.post("/{run_id}/data-size-curve", status_code=201)
def create_data_size_curve(run_id: IdPath, session: SessionDep, queue: QueueDep, _: ApiAuth) -> list[RunRead]:
    """Queue the run's config at 10, 25, 50 and 100 % of the training data, as children of the run."""
    children = experiments.queue_data_size_curve(session=session, run_id=run_id, queue=queue)
    return [runs.to_read(child) for child in children]


@router.get("/{run_id}/data-size-curve")
def read_data_size_curve(run_id: IdPath, session: SessionDep, _: ApiAuth) -> dict[str, Any]:
    """Train and dev error against the number of training examples, and one sentence reading it."""
    curve = experiments.data_size_curve_of(session=session, run_id=run_id)
    if curve is None:
        raise NotFound("Data-size curve of run", run_id)
    return curve.to_dict()


@router.post("/{run_id}/single-task-runs", status_code=201)
def create_single_task_runs(
    run_id: IdPath, session: SessionDep, queue: QueueDep, _: ApiAuth
) -> list[RunRead]:
    """A multi-task run's config once per task, each trained on that task's labels alone."""
    children = multitask.queue_single_task_runs(session=session, run_id=run_id, queue=queue)
    return [runs.to_read(child) for child in children]


@router.get("/{run_id}/single-task-comparison")
def read_single_task_comparison(run_id: IdPath, session: SessionDep, _: ApiAuth) -> dict[str, Any]:
    """Each task's dev error in the multi-task run and in its single-task run, and one sentence on it."""
    comparison = multitask.task_comparison(session=session, run_id=run_id)
    if comparison is None:
        raise NotFound("Single-task runs of run", run_id)
    return {
        "rows": [{**vars(row), "difference": row.difference} for row in comparison.rows],
        "reading": comparison.reading,
        "pending": comparison.pending,
    }
