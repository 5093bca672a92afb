"""A multi-task run against K single-task runs: queue one run per task (the same config, that task's labels
only) and read each task's dev error from both."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput
from server.queue import RunQueue
from server.services import analysis
from server.services.experiments import DEAD_STATUSES, clone_run
from server.services.runs import get_run
from server.tables import Run, RunSummary
from server.task_comparison import TaskRow, read_task_comparison

#: params marker of the single-task runs queued beside a multi-task run: {"single_task_of": <run id>}.
MARKER = "single_task_of"


@dataclass(frozen=True)
class TaskComparison:
    rows: list[TaskRow]
    reading: str
    pending: int


def _tasks(session: Session, run: Run) -> tuple[str, ...]:
    tasks = analysis.run_tasks(session=session, run=run)
    if not tasks or (run.config or {}).get("task"):
        raise InvalidInput(
            ["path", "run_id"], f"Run {run.id} is not a run over every task of a multi-task dataset"
        )
    return tasks


def single_task_runs(*, session: Session, run_id: int) -> list[Run]:
    """The single-task runs queued for the run, oldest first."""
    children = session.scalars(select(Run).where(Run.parent_id == run_id).order_by(Run.id))
    return [child for child in children if (child.params or {}).get(MARKER) == run_id]


def queue_single_task_runs(*, session: Session, run_id: int, queue: RunQueue) -> list[Run]:
    """One run per task of the run's multi-task dataset, each the run's config on that task alone."""
    run = get_run(session=session, run_id=run_id)
    tasks = _tasks(session, run)
    live = [r for r in single_task_runs(session=session, run_id=run_id) if r.status not in DEAD_STATUSES]
    if live:
        raise Conflict(f"Run {run_id} already has single-task runs ({', '.join(f'#{r.id}' for r in live)})")
    return [
        clone_run(
            session=session,
            run_id=run_id,
            changes={"task": task},
            queue=queue,
            name=f"{run.name}, {task} only",
            params={MARKER: run_id},
        )
        for task in tasks
    ]


def task_comparison(*, session: Session, run_id: int) -> TaskComparison | None:
    """Each task's dev error, multi-task and single-task; None before single-task runs were queued."""
    run = get_run(session=session, run_id=run_id)
    singles = [r for r in single_task_runs(session=session, run_id=run_id) if r.status not in DEAD_STATUSES]
    if not singles:
        return None
    ids = [run.id, *(r.id for r in singles)]
    values: dict[tuple[int, str], float] = {}
    for owner, key, value in session.execute(
        select(RunSummary.run_id, RunSummary.key, RunSummary.value).where(RunSummary.run_id.in_(ids))
    ):
        values[(owner, key)] = value
    by_task = {(r.config or {}).get("task"): r for r in singles}  # the newest per task wins
    rows = []
    for task in _tasks(session, run):
        single = by_task.get(task)
        key = f"{task}/dev_error"
        rows.append(
            TaskRow(
                task=task,
                multi_task=values.get((run.id, key)),
                single_task=values.get((single.id, key)) if single else None,
                single_run_id=single.id if single else None,
            )
        )
    pending = sum(1 for r in singles if r.status in ("queued", "running"))
    return TaskComparison(rows=rows, reading=read_task_comparison(rows), pending=pending)
