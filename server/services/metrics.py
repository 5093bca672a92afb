"""Metric points in (batched, idempotent) and out (shape-keeping downsampling)."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.util import identity_key

from server.db import autocommit_connection
from server.errors import InvalidInput, NotFound
from server.queue import RunQueue
from server.schemas import MetricPointIn, MetricSeries
from server.services import series_reads, sweeps
from server.services.pg_ingest import ROLLUP_ON_CONFLICT, SUMMARY_ON_CONFLICT, store_batch
from server.services.runs import now
from server.services.series_rollups import ROLLUP_WIDTHS, latest, rollups
from server.tables import MetricPoint, Project, Run, RunSummary
from trainboard.metric_keys import is_checked, value_problem

# Rows per multi-row INSERT on SQLite: 5 bound parameters each, under its 32,766-parameter limit.
SQLITE_ROWS = 6000

# SQLite's upserts, one row each (executemany); PostgreSQL writes a batch in one statement (pg_ingest).
_ROLLUP_UPSERT = (
    "INSERT INTO metric_rollups (run_id, key, width, bucket, n, min_step, min_value, max_step, max_value) "  # noqa: S608
    "VALUES (:run_id, :key, :width, :bucket, :n, :min_step, :min_value, :max_step, :max_value) "
    + ROLLUP_ON_CONFLICT
)
_SUMMARY_UPSERT = (
    "INSERT INTO run_summaries (run_id, key, step, value) VALUES (:run_id, :key, :step, :value) "  # noqa: S608
    + SUMMARY_ON_CONFLICT
)

PointRow = tuple[str, int, float, datetime | None]  # key, step, value, timestamp (None: the batch's time)

# A run's status and sweep, and its project's metric aliases (a join on a primary key: microseconds).
_RUN_STATE = (
    select(Run.__table__.c.status, Run.__table__.c.sweep_id, Project.__table__.c.metric_aliases)
    .join(Project.__table__, Project.__table__.c.id == Run.__table__.c.project_id)
    .where(Run.__table__.c.id == bindparam("run_id"))
)
_HEARTBEAT = (
    update(Run.__table__)
    .where(Run.__table__.c.id == bindparam("run_id"), Run.__table__.c.status == "running")
    .values(heartbeat_at=bindparam("stamp"))
)


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
    stamp = now()
    finite = [p for p in points if math.isfinite(p.value)]
    if session.get_bind().dialect.name == "postgresql" and len(finite) == len(points):
        status, sweep_id, stored = _ingest_postgres(session, run_id, points, stamp)
    else:
        status, sweep_id, stored = _ingest_checked(session, run_id, points, finite, stamp)
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


def first_per_step(points: list[MetricPointIn], stamp: datetime | None) -> list[PointRow]:
    """One (key, step, value, timestamp or `stamp`) row per (key, step): the batch's first point for it,
    as a stored point wins over a resent one. A dict built from the end keeps the first (as fast as one
    built from the start, which kept the last); reversed back, a batch without repeats keeps its order."""
    rows = list(
        {(p.key, p.step): (p.key, p.step, p.value, p.timestamp or stamp) for p in reversed(points)}.values()
    )
    rows.reverse()
    return rows


def _rename(points: list[MetricPointIn], aliases: dict[str, str] | None) -> None:
    """Give the points logged under one of the project's metric aliases their canonical key, in place."""
    if not aliases:
        return
    for point in points:
        canonical = aliases.get(point.key)
        if canonical is not None:
            point.key = canonical


def _check_canonical_values(points: list[MetricPointIn]) -> None:
    """422 for an error rate outside [0, 1] or a split size that is no whole number (trainboard.metric_keys).

    Stored, a percentage under ``dev_error`` read as 800 % on every page; refused, the script learns at once.
    Non-finite values are left to the run-status rule below."""
    for index, point in enumerate(points):
        if is_checked(point.key) and math.isfinite(point.value):
            problem = value_problem(point.key, point.value)
            if problem is not None:
                raise InvalidInput(["body", "metrics", index, "value"], problem)


def _ingest_postgres(
    session: Session, run_id: int, points: list[MetricPointIn], stamp: datetime
) -> tuple[str, int | None, int]:
    """A batch of finite points on PostgreSQL; returns the run's status and sweep, and how many points
    were new.

    One statement checks the run, stores the batch and moves the heartbeat (pg_ingest), in autocommit: a
    request makes one round trip besides the pool's ping, instead of five. For a project with metric
    aliases that statement stores nothing and returns them; the batch goes again, renamed and re-checked."""
    _check_canonical_values(points)  # a canonical key is never an alias: renaming cannot clear it
    connection = autocommit_connection(session)
    # Timestamps stay None here: the statement stamps those with `stamp` itself.
    result = store_batch(connection, run_id, first_per_step(points, None), ROLLUP_WIDTHS, stamp)
    if result is not None and result.held_for is not None:
        _rename(points, result.held_for)
        _check_canonical_values(points)
        rows = first_per_step(points, None)
        result = store_batch(connection, run_id, rows, ROLLUP_WIDTHS, stamp, renamed=True)
    session.commit()  # ends the autocommit "transaction"; a sweep's work below gets a real one
    if result is None:
        raise NotFound("Run", run_id)
    _expire_heartbeat(session, run_id)
    return result.status, result.sweep_id, result.stored


def _ingest_checked(
    session: Session, run_id: int, points: list[MetricPointIn], finite: list[MetricPointIn], stamp: datetime
) -> tuple[str, int | None, int]:
    """The batch on SQLite, or one with non-finite values (which the run's status decides on); returns the
    run's status and sweep, and how many points were new."""
    # Only the columns a batch needs, with Core: loading the Run as an ORM object (its JSON columns,
    # and its flush at commit) cost about 1 ms of CPU per batch. Sweep trials load it below.
    found = session.connection().execute(_RUN_STATE, {"run_id": run_id}).one_or_none()
    if found is None:
        raise NotFound("Run", run_id)
    status, sweep_id, aliases = found
    _rename(points, aliases)
    _check_canonical_values(points)
    # Non-finite points are refused, except from a run already marked diverged: those are dropped.
    if len(finite) != len(points) and status != "diverged":
        index = next(i for i, p in enumerate(points) if not math.isfinite(p.value))
        bad = points[index]
        raise InvalidInput(
            ["body", "metrics", index, "value"],
            f"{bad.key} at step {bad.step} is {bad.value}: metric values must be finite "
            "(finish the run as 'diverged' to report a blown-up loss)",
        )
    # Plain tuples, not ORM objects or dicts: the per-point cost is what limits a batch's throughput.
    rows = first_per_step(finite, stamp)
    if session.connection().dialect.name == "postgresql":
        result = store_batch(session.connection(), run_id, rows, ROLLUP_WIDTHS, stamp, renamed=True)
        if result is None:
            raise NotFound("Run", run_id)  # deleted since the read above
        new = result.stored
    else:
        stored = _insert_points(session, run_id, rows)
        _update_rollups(session, run_id, stored)
        _update_summaries(session, run_id, stored)  # from stored points only: a resent one changes nothing
        if status == "running":
            session.connection().execute(_HEARTBEAT, {"run_id": run_id, "stamp": stamp})
        new = len(stored)
    session.commit()
    _expire_heartbeat(session, run_id)
    return status, sweep_id, new


def _expire_heartbeat(session: Session, run_id: int) -> None:
    """A Run this session holds sees the new heartbeat, as after an ORM UPDATE (a Core one costs less)."""
    loaded = session.identity_map.get(identity_key(Run, run_id))
    if loaded is not None:
        session.expire(loaded, ["heartbeat_at"])


def _insert_points(session: Session, run_id: int, rows: list[PointRow]) -> list[tuple]:
    """Store the points that are new; returns (key, step, value, ...) of those (stored ones are skipped)."""
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        raise RuntimeError(f"unsupported database dialect {connection.dialect.name!r}")
    # Store timestamps exactly as SQLAlchemy would, converted once per run of equal ones (a client stamps
    # each step's points alike; comparing neighbours is cheaper than hashing fresh aware datetimes).
    # SQLite keeps the wall-clock time only, so each is converted to UTC first (+02:00 would be lost).
    column_type = MetricPoint.__table__.c.timestamp.type
    process = column_type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    last: datetime | None = None
    kept: object = None
    stored: list[tuple] = []
    # The DB-API cursor, inside the session's transaction: no per-row bookkeeping, RETURNING as tuples.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    for start in range(0, len(rows), SQLITE_ROWS):
        chunk = rows[start : start + SQLITE_ROWS]
        params: list[object] = []
        for key, step, value, when in chunk:
            if when is not last and when != last:
                last, utc = when, when.astimezone(UTC)
                kept = process(utc) if process else utc
            params += (run_id, key, step, value, kept)
        sql = (
            "INSERT INTO metric_points (run_id, key, step, value, timestamp) VALUES "  # noqa: S608
            + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
        )
        # Points are nearly always new: a plain INSERT stores them all, and a quarter of a batch's time
        # went to ON CONFLICT ... RETURNING. One that meets a stored point fails as a whole (SQLite undoes
        # that statement only) and goes again skipping the stored ones, returning those it stored.
        try:
            cursor.execute(sql, params)
            stored += chunk
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
                raise
            new = cursor.execute(sql + " ON CONFLICT DO NOTHING RETURNING key, step, value", params)
            stored += new.fetchall()
    cursor.close()
    return stored


def _update_rollups(session: Session, run_id: int, stored: list[tuple]) -> None:
    """Merge the new points into each width's per-bucket minimum and maximum (and count)."""
    names = ("key", "width", "bucket", "n", "min_step", "min_value", "max_step", "max_value")
    params = [
        {"run_id": run_id, **dict(zip(names, row, strict=True))} for row in rollups(stored, ROLLUP_WIDTHS)
    ]
    if params:
        _execute_many(session, _ROLLUP_UPSERT, params)


def _execute_many(session: Session, sql: str, params: list[dict[str, object]]) -> None:
    """Run one statement (named :params) for many rows: SQLite's own executemany skips SQLAlchemy's
    per-row bookkeeping, a few microseconds a row."""
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(sql, params)
    cursor.close()


def _update_summaries(session: Session, run_id: int, rows: list[tuple]) -> None:
    params = [
        {"run_id": run_id, "key": key, "step": step, "value": value}
        for key, (step, value) in latest(rows).items()
    ]
    if params:
        _execute_many(session, _SUMMARY_UPSERT, params)  # type: ignore[arg-type]


def read_series(
    *,
    session: Session,
    run_id: int,
    key: str,
    max_points: int | None,
    raw_limit: int | None = None,
    after_step: int | None = None,
) -> MetricSeries:
    """One metric's points in step order; with max_points, reduced to at most that many, keeping its shape;
    with after_step, only the points after that step (none is no error: the series has nothing new).

    A long series is reduced from its rollups (per-bucket minima and maxima kept on write) plus its first
    and last points, at the same cost at every length (series_reads). A caller that needs only the shape
    (the diagnosis's curves) passes a small ``raw_limit`` to bound its cost."""
    series_reads.check_runs_exist(session.connection(), [run_id])
    found = series_reads.read_many(
        session.connection(), [(run_id, key)], max_points, after_step=after_step, raw_limit=raw_limit
    )
    if (run_id, key) in found:
        return found[run_id, key]
    if after_step is not None:
        return MetricSeries(key=key, points=[], downsampled=False, total_points=0)
    raise NotFound("Metric", f"{key!r} of run {run_id}")


def metric_keys(*, session: Session, run_id: int) -> list[str]:
    """The keys this run has logged."""
    return list(
        session.scalars(select(RunSummary.key).where(RunSummary.run_id == run_id).order_by(RunSummary.key))
    )
