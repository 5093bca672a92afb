"""A batch of metric points written to SQLite: the new points in multi-row INSERTs, then their rollups and
the run's summaries upserted with the same conflict rules as PostgreSQL's statement (postgres_writer)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from server.schemas.metrics import PointRow
from server.services.metrics.rollups import (
    ROLLUP_ON_CONFLICT,
    ROLLUP_WIDTHS,
    SUMMARY_ON_CONFLICT,
    latest,
    rollups,
)

# Rows per multi-row INSERT on SQLite: 5 bound parameters each, under its 32,766-parameter limit.
SQLITE_ROWS = 6000

# Upserts of one row each, run by executemany with positional parameters (tuples: no dict per row).
_ROLLUP_UPSERT = (
    "INSERT INTO metric_rollups (run_id, key, width, bucket, n, min_step, min_value, max_step, max_value) "  # noqa: S608
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) " + ROLLUP_ON_CONFLICT
)
_SUMMARY_UPSERT = (
    "INSERT INTO run_summaries (run_id, key, step, value) VALUES (?, ?, ?, ?) "  # noqa: S608
    + SUMMARY_ON_CONFLICT
)


class RawStatement:
    """A Core statement compiled once for SQLite and run on the DB-API cursor: SQLAlchemy's execute,
    result and parameter handling cost about 0.1 ms per small statement, a batch's two of them
    (the run's state, its heartbeat) a few per cent of its CPU."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=sqlite.dialect())
        self.sql = compiled.string
        self.names = compiled.positiontup or []  # type: ignore[attr-defined]  # a SQLCompiler's
        self.defaults = compiled.params

    def execute(self, session: Session, **values: object) -> sqlite3.Cursor:
        params = [values[name] if name in values else self.defaults[name] for name in self.names]
        return _cursor(session).execute(self.sql, params)


def _cursor(session: Session) -> sqlite3.Cursor:
    """The DB-API cursor, inside the session's transaction."""
    connection = session.connection().connection.dbapi_connection
    return cast(sqlite3.Cursor, connection.cursor())  # type: ignore[union-attr]  # checked out: never None


def bind_time(when: datetime) -> str:
    """`when` (aware) as SQLAlchemy stores a DateTime on SQLite: its UTC wall-clock time as text (SQLite
    keeps the wall-clock time only, so +02:00 would be lost without the conversion)."""
    return sqlite_time_text(when.astimezone(UTC))


def sqlite_time_text(utc: datetime) -> str:
    """SQLAlchemy's text for a DateTime on SQLite (its default storage format, "2026-01-02 03:04:05.000006"),
    written by isoformat: its processor fills a format from a dict, 3.5 us a time, and a batch whose steps
    each carry their own time has a hundred. tests/server/test_sqlite_time_text.py holds the two equal."""
    return utc.replace(tzinfo=None).isoformat(" ", "microseconds")


def store_rows(session: Session, run_id: int, rows: list[PointRow], stamp: datetime) -> int:
    """Store the points that are new (a batch's first per (key, step), `stamp` for those without a time),
    and update the rollups and summaries from those only (a re-sent point changes nothing); returns how
    many were new."""
    stored = _insert_points(session, run_id, rows, stamp)
    _update_rollups(session, run_id, stored)
    _update_summaries(session, run_id, stored)
    return len(stored)


def _insert_points(
    session: Session, run_id: int, rows: list[PointRow], stamp: datetime
) -> list[tuple[Any, ...]]:
    """Store the points that are new; returns (key, step, value, ...) of those (stored ones, and repeats
    within the batch after the first, are skipped)."""
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        raise RuntimeError(f"unsupported database dialect {connection.dialect.name!r}")
    # Store timestamps exactly as SQLAlchemy would, converted once per run of equal ones (a client stamps
    # each step's points alike; comparing neighbours is cheaper than hashing fresh aware datetimes).
    last: object = object()  # no time yet: the first row converts its own (or `stamp`)
    kept: object = None
    stored: list[tuple[Any, ...]] = []
    # The DB-API cursor, inside the session's transaction: no per-row bookkeeping, RETURNING as tuples.
    cursor = _cursor(session)
    for start in range(0, len(rows), SQLITE_ROWS):
        chunk = rows[start : start + SQLITE_ROWS]
        params: list[object] = []
        for key, step, value, when in chunk:
            if when is not last and when != last:
                last = when
                kept = bind_time(when if when is not None else stamp)
            params += (run_id, key, step, value, kept)
        sql = (
            "INSERT INTO metric_points (run_id, key, step, value, timestamp) VALUES "  # noqa: S608
            + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
        )
        # Points are nearly always new: a plain INSERT stores them all, and a quarter of a batch's time
        # went to ON CONFLICT ... RETURNING. One that meets a stored point, or repeats one of the batch,
        # fails as a whole (SQLite undoes that statement only) and goes again skipping the stored ones
        # (rows are inserted in order: a batch's first point per (key, step) stays), returning those stored.
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


def _update_rollups(session: Session, run_id: int, stored: list[tuple[Any, ...]]) -> None:
    """Merge the new points into each width's per-bucket minimum and maximum (and count)."""
    params = [(run_id, *row) for row in rollups(stored, ROLLUP_WIDTHS)]
    if params:
        _execute_many(session, _ROLLUP_UPSERT, params)


def _execute_many(session: Session, sql: str, params: list[tuple[Any, ...]]) -> None:
    """Run one statement for many rows: SQLite's own executemany skips SQLAlchemy's per-row bookkeeping,
    a few microseconds a row."""
    cursor = _cursor(session)
    cursor.executemany(sql, params)
    cursor.close()


def _update_summaries(session: Session, run_id: int, rows: list[tuple[Any, ...]]) -> None:
    params = [(run_id, key, step, value) for key, (step, value) in latest(rows).items()]
    if params:
        _execute_many(session, _SUMMARY_UPSERT, params)
