"""Runs: create (queued for a worker, or external), read, list, and the lifecycle the worker reports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    Integer,
    Select,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

import models
from models.config import precision_refusal
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
    as_utc,
)
from server.services import idempotency, run_pages
from server.services.checkpoint_files import checkpoint_path
from server.services.idempotency import ScopedKey
from server.services.run_pages import PageRows, RunFilters, encode_cursor, page_rows
from server.tables import Project, Run, RunCount, RunSummary
from trainboard.settings import get_settings

#: The ids of the projects a caller may see (None: every project).
Visible = Select[tuple[int]] | None


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
    # Workers read the same TRAINBOARD_DEVICE: when it names a device that cannot train this precision,
    # the submit is refused now; with "auto" only the worker knows, and it fails the run saying why.
    if refusal := precision_refusal(hparams.precision, get_settings().device):
        raise InvalidInput(["body", "config", "hparams", "precision"], refusal)
    try:
        model = models.resolve_model_config(
            config.model, kind=dataset.kind, input_shape=dataset.input_shape, n_classes=dataset.n_classes
        )
    except models.ModelConfigError as exc:
        raise InvalidInput(["body", "config", *exc.field.split(".")], exc.message) from exc
    return {"model": model, "hparams": hparams.model_dump()}


def dataset_version(*, project: Project, config: RunConfig) -> int:
    """The dataset version a run trains on: the one its config names, else the project's current one."""
    if config.dataset_version is not None and config.dataset_version > project.dataset_version:
        raise InvalidInput(
            ["body", "config", "dataset_version"],
            f"Project {project.name!r} has dataset versions 1 to {project.dataset_version}, "
            f"but got {config.dataset_version}",
        )
    return config.dataset_version or project.dataset_version


def _run_with_key(session: Session, key: ScopedKey, project_id: int) -> Run | None:
    """The run an earlier POST of this caller with this Idempotency-Key created, or None."""
    run = session.scalar(select(Run).where(idempotency.matches(Run, key)))
    if run is not None and run.project_id != project_id:
        raise Conflict(f"Idempotency-Key {key.key!r} was already used for a run in another project")
    return run


def create_run(
    *, session: Session, data: RunCreate, queue: RunQueue, idempotency_key: ScopedKey | None = None
) -> Run:
    """Record a run; a worker-trained one is queued after the commit, an external one starts running.

    A POST retried by the same caller with the same key (its reply was lost) returns the first's run.
    """
    if idempotency_key is not None and (earlier := _run_with_key(session, idempotency_key, data.project_id)):
        return earlier
    project = session.get(Project, data.project_id)
    if project is None:
        raise InvalidInput(["body", "project_id"], f"Project {data.project_id} not found")
    if data.parent_id is not None and session.get(Run, data.parent_id) is None:
        raise InvalidInput(["body", "parent_id"], f"Run {data.parent_id} not found")
    run = Run(
        project_id=project.id,
        parent_id=data.parent_id,
        name=data.name or "",
        params=data.params,
        group=data.group,
        tags=data.tags,
        notes=data.notes,
        environment=data.environment,
        idempotency_scope=idempotency_key.scope if idempotency_key else None,
        idempotency_key=idempotency_key.key if idempotency_key else None,
    )
    if data.external:
        run.external, run.status, run.started_at, run.heartbeat_at = True, "running", now(), now()
        run.config = data.config.model_dump(exclude_unset=True)
    else:
        # Record the dataset version (label corrections applied) that the worker trains and evaluates on.
        resolved = resolve_config(project=project, config=data.config)
        run.config = {**resolved, "dataset_version": dataset_version(project=project, config=data.config)}
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        # Only the idempotency key is unique here: the same POST, retried, won the race and committed first.
        session.rollback()
        earlier = _run_with_key(session, idempotency_key, project.id) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
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
        group=run.group,
        tags=run.tags,
        notes=run.notes,
        environment=run.environment,
        log_tail=run.log_tail,
    )


# A page of runs and their summaries, built once: with an expanding IN parameter, SQLAlchemy neither
# coerces 50 literals nor computes a cache key per request.
_RUN_ROWS = (
    select(
        *(
            getattr(Run, name)
            for name in (
                "id", "project_id", "parent_id", "name", "status", "external", "config", "params",
                "progress", "error", "worker", "attempt", "created_at", "started_at", "finished_at",
                "heartbeat_at", "sweep_id", "stopped_early", "group", "tags", "notes", "environment",
                "log_tail",
            )
        ),
        Project.dataset,
    )
    .join(Project, Project.id == Run.project_id)
    .where(Run.id.in_(bindparam("run_ids", expanding=True)))
)  # fmt: skip
_SUMMARY_ROWS = (
    select(RunSummary.run_id, RunSummary.key, RunSummary.value)
    .where(RunSummary.run_id.in_(bindparam("run_ids", expanding=True)))
    .order_by(RunSummary.run_id, RunSummary.key)
)


def _summaries(
    connection: Connection, ids: dict[str, list[int]], found: Iterable[int]
) -> dict[int, dict[str, float]]:
    """Each found run's summary (key -> latest value), read in one query for the whole page."""
    summaries: dict[int, dict[str, float]] = {run_id: {} for run_id in found}
    for run_id, key, value in connection.execute(_SUMMARY_ROWS, ids).all():
        summaries[run_id][key] = value
    return summaries


def read_runs(*, session: Session, run_ids: list[int]) -> list[RunRead]:
    """The runs in the order given, read with one query for the runs and one for their summaries.

    Core rows, not ORM objects: a page of 50 loads in about 1.5 ms instead of 7."""
    if not run_ids:
        return []
    connection = session.connection()
    ids = {"run_ids": run_ids}
    by_id = {row.id: row._mapping for row in connection.execute(_RUN_ROWS, ids).all()}
    summaries = _summaries(connection, ids, by_id)
    return [RunRead(**by_id[run_id], summary=summaries[run_id]) for run_id in run_ids if run_id in by_id]


def _count(session: Session, filters: RunFilters) -> int:
    """How many runs meet the filters, summed from the per-(project, status) counts that triggers keep
    (run_counts: counting 10,000 runs took longer than finding the page), on the session's connection
    (the ORM's execute path cost more than the query)."""

    def build() -> Select[Any]:
        counts = RunCount.__table__.c
        query = select(func.coalesce(func.sum(counts.n), 0))
        if filters.project_id is not None:
            query = query.where(counts.project_id == bindparam("project_id"))
        if filters.status is not None:
            query = query.where(counts.status == bindparam("status"))
        if filters.visible is not None:
            query = query.where(counts.project_id.in_(filters.visible))
        return query

    count = run_pages.statement(filters, ("count",), build)
    return int(session.connection().execute(count, filters.params()).scalar_one())


def _page(
    session: Session, filters: RunFilters, sort: str, limit: int, offset: int, cursor: str | None
) -> tuple[int, PageRows, str | None]:
    """The filtered runs' total, their page's (run id, sort value) rows and its next cursor."""
    total = _count(session, filters)
    rows = page_rows(session, filters, sort, limit=limit, offset=offset, cursor=cursor, matching=total)
    next_cursor = encode_cursor(sort, rows[-1][1], rows[-1][0]) if len(rows) == limit else None
    return total, rows, next_cursor


def list_runs(
    *,
    session: Session,
    project_id: int | None,
    status: str | None,
    sort: str,
    limit: int,
    offset: int,
    cursor: str | None = None,
    visible: Select[tuple[int]] | None = None,
) -> RunsPage:
    """A page of runs, filtered and sorted by a field or a summary metric.

    Pages by offset, or by keyset with ``cursor`` (the ``next_cursor`` of the previous page): a cursor
    page starts right after the last run the previous one showed, so runs added meanwhile never make a
    run appear twice or be skipped."""
    total, rows, next_cursor = _page(
        session, RunFilters(project_id, status, visible), sort, limit, offset, cursor
    )
    items = read_runs(session=session, run_ids=[run_id for run_id, _ in rows])
    return RunsPage(total=total, limit=limit, offset=offset, items=items, next_cursor=next_cursor)


def list_runs_json(
    *,
    session: Session,
    project_id: int | None,
    status: str | None,
    sort: str,
    limit: int,
    offset: int,
    cursor: str | None = None,
    visible: Select[tuple[int]] | None = None,
) -> bytes:
    """The same page as ``list_runs``, as the JSON of its ``RunsPage``, built without the models.

    The API's run list spent most of its time turning rows into 50 validated ``RunRead``s and those back
    into JSON: decoding each run's config and params, parsing and re-checking every field the database
    already holds typed. Here the rows go straight to JSON (tests/server/api/test_run_list_json.py holds
    it equal to ``RunsPage.model_dump_json`` of the same runs)."""
    total, rows, next_cursor = _page(
        session, RunFilters(project_id, status, visible), sort, limit, offset, cursor
    )
    head = to_json({"total": total, "limit": limit, "offset": offset})[:-1]
    items = b",".join(_runs_json(session, [run_id for run_id, _ in rows]))
    return b'%s,"items":[%s],"next_cursor":%s}' % (head, items, to_json(next_cursor))


# The page's runs for the JSON path: config, params and progress come as the JSON text the database
# holds (CAST is a no-op on SQLite; PostgreSQL's json type keeps the text as written).
_RUN_JSON_ROWS = (
    select(
        Run.id, Run.project_id, Run.parent_id, Run.name, Run.status, Run.external, Project.dataset,
        cast(Run.config, Text), cast(Run.params, Text), cast(Run.progress, Text),
        Run.error, Run.worker, Run.attempt, Run.created_at, Run.started_at, Run.finished_at,
        Run.heartbeat_at, Run.sweep_id, Run.stopped_early, Run.group,
        cast(Run.tags, Text), Run.notes, cast(Run.environment, Text), Run.log_tail,
    )
    .join(Project, Project.id == Run.project_id)
    .where(Run.id.in_(bindparam("run_ids", expanding=True)))
)  # fmt: skip
# PostgreSQL adds each run's summary as a JSON object, in key order as _SUMMARY_ROWS reads it: one round
# trip fewer (a round trip wakes the server and the database up twice, the larger part of a list's time
# on a machine that is otherwise idle).
# PostgreSQL's JSON writes a non-finite float as a string ("NaN"); the API writes null, as pydantic does.
_FINITE_SUMMARY = case(
    (
        RunSummary.value.in_([literal_column(f"'{v}'::float8") for v in ("NaN", "Infinity", "-Infinity")]),
        None,
    ),
    else_=RunSummary.value,
)
# The ids as one array parameter (= ANY): an expanding IN renders and binds 50 parameters per request.
_RUN_JSON_ROWS_WITH_SUMMARY = (
    select(
        *_RUN_JSON_ROWS.selected_columns,
        select(
            cast(
                func.json_object_agg(RunSummary.key, aggregate_order_by(_FINITE_SUMMARY, RunSummary.key)),
                Text,
            )
        )
        .where(RunSummary.run_id == Run.id)
        .scalar_subquery(),
    )
    .join_from(Run, Project, Project.id == Run.project_id)
    .where(Run.id == any_(bindparam("run_ids", type_=postgresql.ARRAY(Integer))))
)


def _runs_json(session: Session, run_ids: list[int]) -> list[bytes]:
    """Each run's ``RunRead`` JSON, in the order given (runs deleted meanwhile left out)."""
    if not run_ids:
        return []
    connection = session.connection()
    ids = {"run_ids": run_ids}
    summaries: dict[int, bytes] = {}
    if connection.dialect.name == "postgresql":
        by_id = {row[0]: row for row in connection.execute(_RUN_JSON_ROWS_WITH_SUMMARY, ids).all()}
        summaries = {run_id: _stored_json(row[-1] or "{}") for run_id, row in by_id.items()}
    else:
        by_id = {row[0]: row for row in connection.execute(_RUN_JSON_ROWS, ids).all()}
        for run_id, summary in _summaries(connection, ids, by_id).items():
            summaries[run_id] = to_json(summary, inf_nan_mode="null")
    out = []
    for run_id in run_ids:
        row = by_id.get(run_id)
        if row is None:
            continue
        (id_, project_id, parent_id, name, status, external, dataset, config, params, progress, error,
         worker, attempt, created, started, finished, heartbeat, sweep_id, stopped_early, group, tags,
         notes, environment, log_tail, *_) = row  # fmt: skip
        head = to_json(
            {
                "id": id_, "project_id": project_id, "parent_id": parent_id, "name": name,
                "status": status, "external": external, "dataset": dataset,
            }
        )  # fmt: skip
        tail = to_json(
            {
                "error": error, "worker": worker, "attempt": attempt, "created_at": as_utc(created),
                "started_at": as_utc(started), "finished_at": as_utc(finished),
                "heartbeat_at": as_utc(heartbeat), "sweep_id": sweep_id, "stopped_early": stopped_early,
                "group": group,
            }
        )  # fmt: skip
        out.append(
            b'%s,"config":%s,"params":%s,"summary":%s,"progress":%s,%s,"tags":%s,"notes":%s,"environment":%s,'
            b'"log_tail":%s}'
            % (
                head[:-1],
                _stored_json(config),
                _stored_json(params),
                summaries[run_id],
                _stored_json(progress),
                tail[1:-1],
                _stored_json(tags),
                to_json(notes),
                _stored_json(environment),
                to_json(log_tail),
            )
        )
    return out


def _stored_json(text: str | None) -> bytes:
    """A JSON column's stored text, as the reply's JSON of its value."""
    if text is None:
        return b"null"
    if "NaN" in text or "Infinity" in text:
        # Python's json writes non-finite floats as NaN/Infinity, which is not JSON; pydantic writes null.
        return to_json(json.loads(text), inf_nan_mode="null")
    return text.encode()


def _is_alive(run: Run, heartbeat_timeout_s: float) -> bool:
    beat = as_utc(run.heartbeat_at)
    return beat is not None and (now() - beat).total_seconds() < heartbeat_timeout_s


def _refuse_claim(run: Run, data: RunStart, heartbeat_timeout_s: float) -> None:
    """Conflict when the run has finished, or another worker holds it and still reports."""
    if run.status in TERMINAL_STATUSES:
        raise Conflict(f"Run {run.id} is already {run.status}")
    if (
        run.status == "running"
        and _is_alive(run, heartbeat_timeout_s)
        and run.worker != (data.worker or None)
        and not (data.replaces and run.worker == data.replaces)
    ):
        # A duplicate delivery while another worker still trains it: training it twice would mix two series.
        raise Conflict(f"Run {run.id} is already running on {run.worker}")


def start_run(*, session: Session, run_id: int, data: RunStart, heartbeat_timeout_s: float = 120.0) -> Run:
    """A worker claims the run (again, after a crash: it resumes from its checkpoint).

    The claim is a compare-and-set on (status, attempt), so of two deliveries of one run that race (the
    reaper re-sent a message the broker had not lost after all), exactly one trains it.
    """
    run = get_run(session=session, run_id=run_id)
    _refuse_claim(run, data, heartbeat_timeout_s)
    stamp = now()
    # The worker that trains it says what with (a resumed run may land on another machine: the latest wins).
    environment = {} if data.environment is None else {"environment": data.environment}
    claim = (
        update(Run)
        .where(Run.id == run_id, Run.status == run.status, Run.attempt == run.attempt)
        .values(
            status="running",
            worker=data.worker or None,
            attempt=Run.attempt + 1,
            started_at=func.coalesce(Run.started_at, stamp),
            heartbeat_at=stamp,
            error=None,
            **environment,
        )
        .execution_options(synchronize_session=False)
    )
    claimed = session.execute(claim).rowcount  # type: ignore[attr-defined]
    session.commit()
    session.refresh(run)
    if claimed != 1:
        _refuse_claim(run, data, heartbeat_timeout_s)
        raise Conflict(f"Run {run_id} was claimed by another worker at the same moment")
    return run


def report_progress(*, session: Session, run_id: int, data: RunProgress) -> str:
    """Record progress and the heartbeat; returns the status so the worker sees a cancel."""
    run = get_run(session=session, run_id=run_id)
    if run.status == "running":
        run.progress = data.model_dump(exclude_none=True)
        run.heartbeat_at = now()
        session.commit()
    return run.status


def heartbeat(*, session: Session, run_id: int) -> str:
    """Note that a running run's process is alive; returns the status (a cancel shows up here)."""
    run = get_run(session=session, run_id=run_id)
    if run.status == "running":
        run.heartbeat_at = now()
        session.commit()
    return run.status


def resume_run(*, session: Session, run_id: int) -> tuple[Run, int | None]:
    """Reopen an external run for its script (`trainboard.init(resume=...)`): a finished one runs again.

    Returns the run and the highest step it has logged, so the script's next step continues after it."""
    run = get_run(session=session, run_id=run_id)
    if not run.external:
        raise Conflict(f"Run {run_id} is trained by a worker: only a run your own script logs can be resumed")
    if run.sweep_id is not None and run.status in TERMINAL_STATUSES:
        raise Conflict(f"Run {run_id} is a finished sweep trial: its sweep has counted it already")
    if run.status in TERMINAL_STATUSES:
        run.status, run.error, run.finished_at, run.stopped_early = "running", None, None, False
    run.heartbeat_at = now()
    session.commit()
    last_step = session.scalar(select(func.max(RunSummary.step)).where(RunSummary.run_id == run_id))
    return run, last_step


def finish_run(*, session: Session, run_id: int, data: RunFinish) -> Run:
    """Mark the run finished with its final status and, when it did not succeed, the reason."""
    run = get_run(session=session, run_id=run_id)
    if run.status in TERMINAL_STATUSES:
        if run.status != data.status:
            raise Conflict(f"Run {run_id} is already {run.status}")
        if data.log_tail and not run.log_tail:
            # The script's client library failed the run first; its agent adds what the command printed.
            run.log_tail = data.log_tail
            session.commit()
        return run  # a retried finish is a no-op
    run.status = data.status
    run.error = _one_line(data.error) if data.status != "succeeded" else None
    if run.status in ("failed", "diverged") and not run.error:
        run.error = "the run stopped without giving a reason"
    run.log_tail = data.log_tail or None
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
