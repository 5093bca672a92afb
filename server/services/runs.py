"""Runs: create (queued for a worker, or external), read, list, and the lifecycle the worker reports."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, object_session

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
from server.services.checkpoint_files import checkpoint_path
from server.services.gap_order import gap_expression
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
    dataset = get_dataset(project.dataset, session=object_session(project))
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
        # Record the dataset version (label corrections applied) that the worker trains and evaluates on.
        resolved = resolve_config(project=project, config=data.config)
        run.config = {**resolved, "dataset_version": project.dataset_version}
    session.add(run)
    session.flush()
    if not run.name:
        run.name = f"run-{run.id}"
    session.commit()
    # Ids repeat when a database is recreated over a kept data folder: never resume from another run.
    checkpoint_path(run.id).unlink(missing_ok=True)
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
        sweep_id=run.sweep_id,
        stopped_early=run.stopped_early,
    )


NULLABLE_FIELDS = {"started_at", "finished_at"}


def _sort_key(sort: str) -> tuple[ColumnElement[Any], bool, bool]:
    """The sort value of each run as SQL, whether it is descending, and whether it may be NULL."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key in RUN_FIELDS:
        return getattr(Run, key), descending, key in NULLABLE_FIELDS
    # A gap name sorts by that gap; any other name is a summary metric. Runs without it go last either way.
    value = gap_expression(key)
    if value is None:
        value = (
            select(RunSummary.value)
            .where(RunSummary.run_id == Run.id, RunSummary.key == key)
            .correlate(Run)
            .scalar_subquery()
        )
    return value, descending, True


def _sorted(query: Select[Any], sort: str) -> Select[Any]:
    value, descending, nullable = _sort_key(sort)
    order = value.desc() if descending else value.asc()
    if nullable:
        return query.order_by(value.is_(None), order, Run.id.desc())
    if value is Run.id:
        return query.order_by(order)
    return query.order_by(order, Run.id.desc())


def _after(sort: str, last_value: Any, last_id: int) -> ColumnElement[bool]:
    """Runs that come after (last_value, last_id) in the order _sorted gives: the keyset condition."""
    value, descending, nullable = _sort_key(sort)
    if value is Run.id:
        return Run.id < last_id if descending else Run.id > last_id
    if last_value is None:  # already in the NULL tail, ordered by id descending
        return and_(value.is_(None), Run.id < last_id)
    beyond = value < last_value if descending else value > last_value
    conditions = [beyond, and_(value == last_value, Run.id < last_id)]
    if nullable:
        conditions.append(value.is_(None))
    return or_(*conditions)


def encode_cursor(sort: str, value: Any, run_id: int) -> str:
    """An opaque cursor naming the last run of a page: its sort key and value, and its id."""
    if isinstance(value, datetime):
        value = {"t": (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()}
    data = json.dumps({"s": sort, "v": value, "id": run_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """(sort value, id) of the last run of the previous page; InvalidInput when it is not ours or
    was made for another sort."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, run_id = data["v"], data["id"]
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        if not isinstance(run_id, int) or not isinstance(value, int | float | str | datetime | None):
            raise ValueError(run_id)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(["query", "cursor"], "Not a cursor this server gave out") from exc
    if data.get("s") != sort:
        raise InvalidInput(
            ["query", "cursor"], f"The cursor was made for sort={data.get('s')!r}, not {sort!r}"
        )
    return value, run_id


def list_runs(
    *,
    session: Session,
    project_id: int | None,
    status: str | None,
    sort: str,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> RunsPage:
    """A page of runs, filtered and sorted by a field or a summary metric.

    Pages by offset, or by keyset with ``cursor`` (the ``next_cursor`` of the previous page): a cursor
    page starts right after the last run the previous one showed, so runs added meanwhile never make a
    run appear twice or be skipped."""
    query = select(Run)
    if project_id is not None:
        query = query.where(Run.project_id == project_id)
    if status is not None:
        query = query.where(Run.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    value = _sort_key(sort)[0]
    page = _sorted(query.add_columns(value.label("sort_value")), sort).limit(limit)
    if cursor is not None:
        page = page.where(_after(sort, *decode_cursor(cursor, sort)))
    else:
        page = page.offset(offset)
    rows = session.execute(page).all()
    runs = [row[0] for row in rows]
    datasets = dict(
        session.execute(
            select(Project.id, Project.dataset).where(Project.id.in_({r.project_id for r in runs}))
        ).all()
    )
    items = [to_read(run, datasets[run.project_id]) for run in runs]
    next_cursor = encode_cursor(sort, rows[-1][1], runs[-1].id) if len(rows) == limit else None
    return RunsPage(total=total, limit=limit, offset=offset, items=items, next_cursor=next_cursor)


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
        and not (data.replaces and run.worker == data.replaces)
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
