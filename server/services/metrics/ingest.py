"""Metric points in: batched, idempotent per (run, key, step), renamed by the project's metric aliases and
checked, then written by the writer for the session's database (postgres_writer or sqlite_writer)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.util import identity_key

from server import observability
from server.db import autocommit_connection
from server.errors import InvalidInput, NotFound
from server.queue import RunQueue
from server.schemas import Locate, MetricPointIn, PointRow
from server.schemas.metrics import point_location
from server.services import sweeps
from server.services.metrics.postgres_writer import store_batch
from server.services.metrics.rollups import ROLLUP_WIDTHS
from server.services.metrics.sqlite_writer import RawStatement, bind_time, store_rows
from server.services.runs import now
from server.tables import Project, Run
from trainboard.metric_keys import is_checked, value_problem

# A run's status and sweep, and its project's metric aliases (a join on a primary key: microseconds).
_RUN_STATE = (
    select(Run.__table__.c.status, Run.__table__.c.sweep_id, Project.__table__.c.metric_aliases)
    .join(Project.__table__, Project.__table__.c.id == Run.__table__.c.project_id)
    .where(Run.__table__.c.id == bindparam("run_id"))
)
_HEARTBEAT = (
    update(Run)
    .where(Run.__table__.c.id == bindparam("run_id"), Run.__table__.c.status == "running")
    .values(heartbeat_at=bindparam("stamp"))
)
_SQLITE_RUN_STATE, _SQLITE_HEARTBEAT = RawStatement(_RUN_STATE), RawStatement(_HEARTBEAT)
_ALIASES = Project.__table__.c.metric_aliases.type


def ingest_metrics(
    *, session: Session, run_id: int, points: list[MetricPointIn], queue: RunQueue | None = None
) -> int:
    """Store the points once each per (run, key, step) and keep the run's summary current; returns how
    many were new (stored now).

    The first value sent for a (key, step) stays, within a batch as across batches: a point sent again,
    whatever its value, changes nothing. A point under one of the project's metric aliases is stored under
    its canonical key (and checked as one). A sweep trial may be stopped early here; with ``queue``, the
    sweep then queues its next trial."""
    return store_metrics(session=session, run_id=run_id, points=points, queue=queue).accepted


@dataclass(frozen=True)
class Stored:
    """What a batch's sender learns: how many points were new, and whether to stop (the run was
    cancelled, or early stopping just stopped the sweep trial)."""

    accepted: int
    should_stop: bool


def store_metrics(
    *, session: Session, run_id: int, points: list[MetricPointIn], queue: RunQueue | None = None
) -> Stored:
    """`ingest_metrics`, also telling the sender whether its run should stop."""
    rows = [(p.key, p.step, p.value, p.timestamp) for p in points]
    return store_metric_rows(session=session, run_id=run_id, rows=rows, queue=queue)


def store_metric_rows(
    *,
    session: Session,
    run_id: int,
    rows: list[PointRow],
    queue: RunQueue | None = None,
    locate: Locate = point_location,
) -> Stored:
    """`store_metrics` for points already read into (key, step, value, timestamp) rows (the REST route's
    body reader makes those straight from the JSON: no per-point objects); `locate` names a refused row's
    field in the body it came from."""
    stamp = now()
    finite = [r for r in rows if math.isfinite(r[2])]
    if session.get_bind().dialect.name == "postgresql" and len(finite) == len(rows):
        status, sweep_id, stored = _ingest_postgres(session, run_id, rows, stamp, locate)
    else:
        status, sweep_id, stored = _ingest_checked(session, run_id, rows, finite, stamp, locate)
    # Counted here, so points from every route (REST, MLflow's log-batch, imports) reach /metrics.
    observability.POINTS_INGESTED.inc(stored)
    stopped = status == "cancelled"
    if sweep_id is not None:
        run = session.get(Run, run_id, options=[lazyload(Run.summaries)])
        if run is None:  # deleted meanwhile
            return Stored(stored, stopped)
        # ASHA / median: maybe stop the trial
        stopped = sweeps.on_metrics(session=session, run=run, points=finite) or stopped
        if queue is not None:
            sweeps.advance_after_trial(session=session, run_id=run_id, queue=queue)
    return Stored(stored, stopped)


def first_per_step(rows: list[PointRow], stamp: datetime | None) -> list[PointRow]:
    """One (key, step, value, timestamp or `stamp`) row per (key, step): the batch's first point for it,
    as a stored point wins over a resent one. A dict built from the end keeps the first (as fast as one
    built from the start, which kept the last); reversed back, a batch without repeats keeps its order."""
    kept = list({(r[0], r[1]): r for r in reversed(rows)}.values())
    kept.reverse()
    if stamp is None:
        return kept
    # Rows are shared with the caller: one without a time gets a new tuple, the others stay as they are.
    return [r if r[3] is not None else (r[0], r[1], r[2], stamp) for r in kept]


def _rename(rows: list[PointRow], aliases: dict[str, str] | None) -> list[PointRow]:
    """The rows, those logged under one of the project's metric aliases under their canonical key."""
    if not aliases or not aliases.keys() & {r[0] for r in rows}:
        return rows
    return [(aliases.get(r[0], r[0]), r[1], r[2], r[3]) for r in rows]


def _check_canonical_values(rows: list[PointRow], locate: Locate) -> None:
    """422 for an error rate outside [0, 1] or a split size that is no whole number (trainboard.metric_keys).

    Stored, a percentage under ``dev_error`` read as 800 % on every page; refused, the script learns at once.
    Non-finite values are left to the run-status rule below. A batch has few keys: each is looked up once."""
    checked = {key for key in {r[0] for r in rows} if is_checked(key)}
    if not checked:
        return
    for index, (key, _, value, _) in enumerate(rows):
        if key in checked and math.isfinite(value):
            problem = value_problem(key, value)
            if problem is not None:
                raise InvalidInput(["body", *locate(index)], problem)


def _ingest_postgres(
    session: Session, run_id: int, points: list[PointRow], stamp: datetime, locate: Locate
) -> tuple[str, int | None, int]:
    """A batch of finite points on PostgreSQL; returns the run's status and sweep, and how many points
    were new.

    One statement checks the run, stores the batch and moves the heartbeat (postgres_writer), in autocommit: a
    request makes one round trip besides the pool's ping, instead of five. For a project with metric
    aliases that statement stores nothing and returns them; the batch goes again, renamed and re-checked."""
    _check_canonical_values(points, locate)  # a canonical key is never an alias: renaming cannot clear it
    connection = autocommit_connection(session)
    # Timestamps stay None here: the statement stamps those with `stamp` itself.
    result = store_batch(connection, run_id, first_per_step(points, None), ROLLUP_WIDTHS, stamp)
    if result is not None and result.held_for is not None:
        points = _rename(points, result.held_for)
        _check_canonical_values(points, locate)
        rows = first_per_step(points, None)
        result = store_batch(connection, run_id, rows, ROLLUP_WIDTHS, stamp, renamed=True)
    session.commit()  # ends the autocommit "transaction"; a sweep's work below gets a real one
    if result is None:
        raise NotFound("Run", run_id)
    _expire_heartbeat(session, run_id)
    return result.status, result.sweep_id, result.stored


def _ingest_checked(
    session: Session,
    run_id: int,
    points: list[PointRow],
    finite: list[PointRow],
    stamp: datetime,
    locate: Locate,
) -> tuple[str, int | None, int]:
    """The batch on SQLite, or one with non-finite values (which the run's status decides on); returns the
    run's status and sweep, and how many points were new."""
    # Only the columns a batch needs, with Core: loading the Run as an ORM object (its JSON columns,
    # and its flush at commit) cost about 1 ms of CPU per batch. Sweep trials load it below.
    on_sqlite = session.connection().dialect.name == "sqlite"
    if on_sqlite:
        found = _SQLITE_RUN_STATE.execute(session, run_id=run_id).fetchone()
        if found is not None:  # the JSON column's text, read as SQLAlchemy reads it
            process = _ALIASES.result_processor(session.get_bind().dialect, None)
            found = (*found[:2], process(found[2]) if process else found[2])
    else:
        found = session.connection().execute(_RUN_STATE, {"run_id": run_id}).one_or_none()
    if found is None:
        raise NotFound("Run", run_id)
    status, sweep_id, aliases = found
    if aliases:
        points, finite = _rename(points, aliases), _rename(finite, aliases)
    _check_canonical_values(points, locate)
    # Non-finite points are refused, except from a run already marked diverged: those are dropped.
    if len(finite) != len(points) and status != "diverged":
        index = next(i for i, r in enumerate(points) if not math.isfinite(r[2]))
        key, step, value, _ = points[index]
        raise InvalidInput(
            ["body", *locate(index)],
            f"{key} at step {step} is {value}: metric values must be finite "
            "(finish the run as 'diverged' to report a blown-up loss)",
        )
    # Plain tuples, not ORM objects or dicts: the per-point cost is what limits a batch's throughput.
    if not on_sqlite:
        rows = first_per_step(finite, stamp)
        result = store_batch(session.connection(), run_id, rows, ROLLUP_WIDTHS, stamp, renamed=True)
        if result is None:
            raise NotFound("Run", run_id)  # deleted since the read above
        new = result.stored
    else:
        # No first_per_step: SQLite's INSERT keeps a batch's first point per (key, step) itself. Summaries
        # come from stored points only: a resent one changes nothing.
        new = store_rows(session, run_id, finite, stamp)
        if status == "running":
            _SQLITE_HEARTBEAT.execute(session, run_id=run_id, stamp=bind_time(stamp))
    session.commit()
    _expire_heartbeat(session, run_id)
    return status, sweep_id, new


def _expire_heartbeat(session: Session, run_id: int) -> None:
    """A Run this session holds sees the new heartbeat, as after an ORM UPDATE (a Core one costs less)."""
    loaded = session.identity_map.get(identity_key(Run, run_id))
    if loaded is not None:
        session.expire(loaded, ["heartbeat_at"])
