"""Which task a run's predictions belong to: none for a single-task run, one of its dataset's tasks for a
multi-task run. Every error-analysis read resolves its `task` here, so they all refuse the same inputs."""

from __future__ import annotations

from sqlalchemy import ColumnElement, SQLColumnExpression
from sqlalchemy.orm import Session

from server.datasets import get_dataset
from server.errors import InvalidInput
from server.tables import Run


def prediction_tasks(*, session: Session, run: Run) -> tuple[str, ...]:
    """The tasks a run predicts: its dataset's, unless the run trains one task alone (config "task"), or
    none (a single-task run)."""
    if (run.config or {}).get("task"):
        return ()
    dataset = get_dataset(run.project.dataset, session=session)
    return dataset.tasks if dataset else ()


def resolve_task(
    *, session: Session, run: Run, task: str | None, field: tuple[str | int, ...] = ("query", "task")
) -> str | None:
    """The task to read a run's predictions of: `task` checked against the run's tasks.

    A multi-task run needs one of its tasks (InvalidInput listing them); a single-task run takes none
    (InvalidInput naming the task it got). `field` is where the error points."""
    tasks = prediction_tasks(session=session, run=run)
    if not tasks:
        if task is not None:
            raise InvalidInput(list(field), f"Run {run.id} is a single-task run, but got task={task!r}")
        return None
    if task is None:
        raise InvalidInput(
            list(field), f"Run {run.id} is a multi-task run: name one of its tasks ({', '.join(tasks)})"
        )
    if task not in tasks:
        raise InvalidInput(
            list(field), f"Run {run.id}'s dataset has the tasks {', '.join(tasks)}, but got task={task!r}"
        )
    return task


def task_is(column: SQLColumnExpression[str | None], task: str | None) -> ColumnElement[bool]:
    """`column` holds `task` (IS NULL for a single-task run's rows)."""
    return column.is_(None) if task is None else column == task


__all__ = ["prediction_tasks", "resolve_task", "task_is"]
