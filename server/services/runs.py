"""Runs: create (queued for a worker, or external), read, list, and the lifecycle the worker reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

import models
from server.datasets import get_dataset
from server.errors import Conflict, InvalidInput, NotFound
from server.queue import RunQueue
from server.schemas import (
    TERMINAL_STATUSES,
    Hparams,
    RunConfig,
    RunCreate,
    RunFinish,
    RunProgress,
    RunRead,
    RunsPage,
    RunStart,
)
from server.tables import Project, Run, RunSummary

RUN_FIELDS = {"id", "name", "status", "created_at", "started_at", "finished_at"}


def now() -> datetime:
    return datetime.now(UTC)


def get_run(*, session: Session, run_id: int) -> Run:
    """The run or NotFound."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound("Run", run_id)
    return run


def resolve_config(*, project: Project, config: RunConfig) -> dict[str, Any]:
    """Fill every default (the dataset's, then the model's) and refuse a config that does not fit the data."""
    dataset = get_dataset(project.dataset)
    if dataset is None:
        raise InvalidInput(
            ["body", "external"],
            f"Project {project.name!r} has no built-in dataset ({project.dataset!r}): its runs are trained "
            "by your own script, so create them with external: true",
        )
    given = config.hparams.model_dump(include=config.hparams.model_fields_set)
    hparams = Hparams.model_validate({**dataset.default_hparams, **given})
    try:
        model = models.resolve_model_config(
            config.model, kind=dataset.kind, input_shape=dataset.input_shape, n_classes=dataset.n_classes
        )
    except models.ModelConfigError as exc:
        raise InvalidInput(["body", "config", *exc.field.split(".")], exc.message) from exc
    return {"model": model, "hparams": hparams.model_dump()}


def create_run(*, session: Session, data: RunCreate, queue: RunQueue) -> Run:
    """Record a run; a worker-trained one is queued after the commit, an external one starts running."""
    project = session.get(Project, data.project_id)
    if project is None:
        raise InvalidInput(["body", "project_id"], f"Project {data.project_id} not found")
    if data.parent_id is not None and session.get(Run, data.parent_id) is None:
        raise InvalidInput(["body", "parent_id"], f"Run {data.parent_id} not found")
    run = Run(project_id=project.id, parent_id=data.parent_id, name=data.name or "", params=data.params)
    if data.external:
        run.external, run.status, run.started_at, run.heartbeat_at = True, "running", now(), now()
        run.config = data.config.model_dump(exclude_unset=True)
    else:
        run.config = resolve_config(project=project, config=data.config)
    session.add(run)
    session.flush()
    if not run.name:
        run.name = f"run-{run.id}"
    session.commit()
    if not run.external:
        enqueue_run(session=session, run=run, queue=queue)
    return run


def enqueue_run(*, session: Session, run: Run, queue: RunQueue) -> None:
    """Send the run to the broker; if the broker is down, the reaper retries later."""
    if queue.enqueue(run.id):
        run.enqueued_at = now()
        session.commit()


def to_read(run: Run, dataset: str | None = None) -> RunRead:
    return RunRead(
        id=run.id,
        project_id=run.project_id,
        parent_id=run.parent_id,
        name=run.name,
        status=run.status,  # type: ignore[arg-type]
        external=run.external,
        dataset=dataset if dataset is not None else run.project.dataset,
        config=run.config,
        params=run.params,
        summary={s.key: s.value for s in run.summaries},
        progress=run.progress,
        error=run.error,
        worker=run.worker,
        attempt=run.attempt,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        heartbeat_at=run.heartbeat_at,
    )


def _sorted(query: Select[tuple[Run]], sort: str) -> Select[tuple[Run]]:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key in RUN_FIELDS:
        column = getattr(Run, key)
        return query.order_by(column.desc() if descending else column.asc(), Run.id.desc())
    # Any other name is a summary metric; runs without it go last either way.
    value = (
        select(RunSummary.value)
        .where(RunSummary.run_id == Run.id, RunSummary.key == key)
        .correlate(Run)
        .scalar_subquery()
    )
    order = value.desc() if descending else value.asc()
    return query.order_by(value.is_(None), order, Run.id.desc())


def list_runs(
    *,
    session: Session,
    project_id: int | None,
    status: str | None,
    sort: str,
    limit: int,
    offset: int,
) -> RunsPage:
    """A page of runs, filtered and sorted by a field or a summary metric."""
    query = select(Run)
    if project_id is not None:
        query = query.where(Run.project_id == project_id)
    if status is not None:
        query = query.where(Run.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    runs = list(session.scalars(_sorted(query, sort).limit(limit).offset(offset)))
    datasets = dict(
        session.execute(
            select(Project.id, Project.dataset).where(Project.id.in_({r.project_id for r in runs}))
        ).all()
    )
    items = [to_read(run, datasets[run.project_id]) for run in runs]
    return RunsPage(total=total, limit=limit, offset=offset, items=items)


def _is_alive(run: Run, heartbeat_timeout_s: float) -> bool:
    beat = run.heartbeat_at
    if beat is None:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return (now() - beat).total_seconds() < heartbeat_timeout_s


def start_run(*, session: Session, run_id: int, data: RunStart, heartbeat_timeout_s: float = 120.0) -> Run:
    """A worker claims the run (again, after a crash: it resumes from its checkpoint)."""
    run = get_run(session=session, run_id=run_id)
    if run.status in TERMINAL_STATUSES:
        raise Conflict(f"Run {run_id} is already {run.status}")
    if (
        run.status == "running"
        and _is_alive(run, heartbeat_timeout_s)
        and run.worker != (data.worker or None)
    ):
        # A duplicate delivery while another worker still trains it: training it twice would mix two series.
        raise Conflict(f"Run {run_id} is already running on {run.worker}")
    run.status = "running"
    run.worker = data.worker or None
    run.attempt += 1
    run.started_at = run.started_at or now()
    run.heartbeat_at = now()
    run.error = None
    session.commit()
    return run


def report_progress(*, session: Session, run_id: int, data: RunProgress) -> str:
    """Record progress and the heartbeat; returns the status so the worker sees a cancel."""
    run = get_run(session=session, run_id=run_id)
    if run.status == "running":
        run.progress = data.model_dump(exclude_none=True)
        run.heartbeat_at = now()
        session.commit()
    return run.status


def finish_run(*, session: Session, run_id: int, data: RunFinish) -> Run:
    """Mark the run finished with its final status and, when it did not succeed, the reason."""
    run = get_run(session=session, run_id=run_id)
    if run.status in TERMINAL_STATUSES:
        if run.status == data.status:
            return run  # a retried finish is a no-op
        raise Conflict(f"Run {run_id} is already {run.status}")
    run.status = data.status
    run.error = _one_line(data.error) if data.status != "succeeded" else None
    if run.status in ("failed", "diverged") and not run.error:
        run.error = "the run stopped without giving a reason"
    run.finished_at = now()
    session.commit()
    return run


def cancel_run(*, session: Session, run_id: int) -> Run:
    """Cancel a queued or running run; a running one stops at the worker's next progress report."""
    run = get_run(session=session, run_id=run_id)
    if run.status in TERMINAL_STATUSES:
        raise Conflict(f"Run {run_id} is already {run.status}")
    run.status = "cancelled"
    run.finished_at = now()
    session.commit()
    return run


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    line = " ".join(text.split())
    return line[:500]
