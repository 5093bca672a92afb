"""A batch of metric points written to PostgreSQL in one statement: the run's check and heartbeat, the points,
the run's summaries and the per-bucket rollups, with the same conflict rules as the SQLite path
(sqlite_writer; both take them from rollups).

Why one statement: a batch used to cost a round trip per step, and psycopg's pure-Python array dumping of
five 1,000-element lists, plus fetching every stored point back for numpy, took most of the server's CPU.
Here the arrays travel as array literals (numbers written by pydantic_core's JSON writer, keys and
timestamps joined from a few distinct ones) and the stored points never leave the database. A batch of
new points brings its rollups and summaries along (computed by the server, as for SQLite); one that
re-sends stored points has them computed by PostgreSQL from the INSERT's RETURNING, which holds only the
points that were new."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby

from pydantic_core import to_json
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from server.services.metrics.rollups import (
    ROLLUP_ON_CONFLICT,
    SUMMARY_ON_CONFLICT,
    finest_width,
    latest,
    rollups,
)

# The run's row comes first: `run` reads its status and sweep and holds a KEY SHARE lock on it until the
# statement's transaction ends, so a concurrent DELETE of the run waits for the points and then removes
# them (migration 0009's trigger); against a run already deleted, nothing is stored. That lock does once
# per batch what the foreign key's check did once per point (a quarter of the statement's time). `beat`
# moves a running run's heartbeat, which used to be a statement of its own.
# `run` also reads the project's metric aliases. A project without them (NULL) lets the batch through
# (`go`); one with them holds it back, and the statement returns them for the caller to rename the batch
# and send it again with :renamed. So the common case pays no round trip for the aliases (a separate
# lookup cost 7-14 % of a 1,000-point batch's time on a loaded 2-core machine), and an aliased project
# pays one statement that stores nothing.
_RUN = (
    "WITH run AS MATERIALIZED ("
    " SELECT runs.status, runs.sweep_id, CAST(projects.metric_aliases AS TEXT) AS aliases"
    " FROM runs JOIN projects ON projects.id = runs.project_id WHERE runs.id = :run_id FOR KEY SHARE OF runs"
    "), go AS (SELECT FROM run WHERE aliases IS NULL OR CAST(:renamed AS BOOLEAN)"
    "), beat AS ("
    " UPDATE runs SET heartbeat_at = :now WHERE id = :run_id AND status = 'running'"
    ")"
)
# A batch's timestamps are few distinct ones (a client stamps each step's points alike): they travel once
# each, with each point's number among them, because parsing 1,000 timestamps took about a millisecond
# of the database's time. `stamps` is materialized so that the array is read once, not once per point.
_INSERT_POINTS = (
    ", stamps AS MATERIALIZED (SELECT CAST(:stamps AS TIMESTAMPTZ[]) AS each), stored AS ("
    " INSERT INTO metric_points (run_id, key, step, value, timestamp)"
    " SELECT :run_id, t.key, t.step, t.value, COALESCE(stamps.each[t.stamp], :now) FROM stamps,"
    " unnest(CAST(:keys AS VARCHAR[]), CAST(:steps AS BIGINT[]), CAST(:values AS DOUBLE PRECISION[]),"
    " CAST(:stamp_index AS INTEGER[])) AS t(key, step, value, stamp) WHERE EXISTS (SELECT FROM go)"
)
_INSERT_ROLLUPS = (
    " INSERT INTO metric_rollups (run_id, key, width, bucket, n, min_step, min_value, max_step, max_value)"
)
_INSERT_SUMMARIES = " INSERT INTO run_summaries (run_id, key, step, value)"

# Points are nearly always new (a run logs forward). Then every point of the batch is stored, so the
# server computes the rollups and summaries from the batch itself (rollups, as for SQLite) and they
# travel as arrays: the database only inserts. Grouping 1,000 points in SQL (sorts, ordered array_agg)
# had been a quarter to a third of the statement's time. A plain INSERT of new rows also costs a quarter
# less than ON CONFLICT's speculative insertion.
_STORE_NEW = text(
    _RUN  # noqa: S608 (constants only)
    + _INSERT_POINTS
    + "), summaries AS ("
    + _INSERT_SUMMARIES
    + " SELECT :run_id, s.* FROM unnest(CAST(:summary_keys AS VARCHAR[]), CAST(:summary_steps AS BIGINT[]),"
    " CAST(:summary_values AS DOUBLE PRECISION[])) AS s WHERE EXISTS (SELECT FROM go) "
    + SUMMARY_ON_CONFLICT
    + "), rollups AS ("
    + _INSERT_ROLLUPS
    + " SELECT :run_id, r.* FROM unnest(CAST(:rollup_keys AS VARCHAR[]), CAST(:rollup_widths AS BIGINT[]),"
    " CAST(:rollup_buckets AS BIGINT[]), CAST(:rollup_ns AS BIGINT[]), CAST(:rollup_min_steps AS BIGINT[]),"
    " CAST(:rollup_min_values AS DOUBLE PRECISION[]), CAST(:rollup_max_steps AS BIGINT[]),"
    " CAST(:rollup_max_values AS DOUBLE PRECISION[])) AS r WHERE EXISTS (SELECT FROM go) "
    + ROLLUP_ON_CONFLICT
    + ") SELECT (SELECT status FROM run), (SELECT sweep_id FROM run), (SELECT aliases FROM run)"
)

# A batch that re-sends a stored point fails the plain INSERT on the primary key and goes again here with
# ON CONFLICT DO NOTHING, which skips the stored ones. Only the points actually stored may count, so the
# rollups and summaries are computed in SQL from the INSERT's RETURNING, with the same rules: within a
# (key, width, bucket) group the minimum's step is the first step holding it and the maximum's the last.
# The stored points are grouped once into the finest buckets (`fine`), and each width's buckets merged
# from those; a merged bucket's minimum step is the least step among the fine buckets holding its
# minimum, which is the first step holding it; likewise the maximum's.
_STORE_ANY = text(
    _RUN  # noqa: S608 (constants only)
    + _INSERT_POINTS
    + " ON CONFLICT DO NOTHING RETURNING key, step, value"
    "), summaries AS ("
    + _INSERT_SUMMARIES
    + " SELECT DISTINCT ON (key) :run_id, key, step, value FROM stored ORDER BY key, step DESC "
    + SUMMARY_ON_CONFLICT
    + "), fine AS ("
    " SELECT key, step / CAST(:finest AS BIGINT) AS bucket, count(*) AS n,"
    " (array_agg(step ORDER BY value, step))[1] AS min_step, min(value) AS min_value,"
    " (array_agg(step ORDER BY value DESC, step DESC))[1] AS max_step, max(value) AS max_value"
    " FROM stored GROUP BY key, step / CAST(:finest AS BIGINT)"
    "), rollups AS ("
    + _INSERT_ROLLUPS
    + " SELECT :run_id, key, w.width, bucket / (w.width / CAST(:finest AS BIGINT)), sum(n),"
    " (array_agg(min_step ORDER BY min_value, min_step))[1], min(min_value),"
    " (array_agg(max_step ORDER BY max_value DESC, max_step DESC))[1], max(max_value)"
    " FROM fine CROSS JOIN unnest(CAST(:widths AS BIGINT[])) AS w(width)"
    " GROUP BY key, w.width, bucket / (w.width / CAST(:finest AS BIGINT)) "
    + ROLLUP_ON_CONFLICT
    + ") SELECT (SELECT status FROM run), (SELECT sweep_id FROM run), (SELECT count(*) FROM stored),"
    " (SELECT aliases FROM run)"
)
_UNIQUE_VIOLATION = "23505"


@dataclass(frozen=True)
class BatchResult:
    """What a stored batch tells its caller: the run's status and sweep, and how many points were new.

    ``held_for`` holds the project's metric aliases when the batch was held back for them (nothing was
    stored: rename it and store it again with ``renamed``); None when it was stored."""

    status: str
    sweep_id: int | None
    stored: int
    held_for: dict[str, str] | None = None


def store_batch(
    connection: Connection,
    run_id: int,
    rows: Sequence[tuple[str, int, float, datetime | None]],
    widths: Sequence[int],
    now: datetime,
    *,
    renamed: bool = False,
) -> BatchResult | None:
    """Store (key, step, value, timestamp) rows, unique per (key, step), update the run's summaries and
    rollups from the new ones, and move a running run's heartbeat to `now` (also the timestamp of rows
    without one). None if the run does not exist (then nothing is stored). Unless `renamed` says the
    rows' keys went through the project's metric aliases, a project that has some gets nothing stored
    and its aliases back (`BatchResult.held_for`).

    On a connection in autocommit mode the statement is its own transaction; inside a transaction the
    first try runs in a savepoint, so that a re-sent point's conflict does not end the caller's."""
    params = _params(run_id, rows, now) | {"renamed": renamed}
    autocommit = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    try:
        with contextlib.nullcontext() if autocommit else connection.begin_nested():
            status, sweep_id, aliases = connection.execute(_STORE_NEW, params | _computed(rows, widths)).one()
        stored = len(rows)
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
        params |= {"widths": _array(map(str, widths)), "finest": finest_width(widths)}
        status, sweep_id, stored, aliases = connection.execute(_STORE_ANY, params).one()
    if status is None:
        return None
    if aliases is not None and not renamed:
        return BatchResult(status, sweep_id, 0, held_for=json.loads(aliases) or {})
    return BatchResult(status, sweep_id, int(stored))


def _params(
    run_id: int, rows: Sequence[tuple[str, int, float, datetime | None]], now: datetime
) -> dict[str, object]:
    names, steps, values, times = zip(*rows, strict=True) if rows else ((), (), (), ())
    keys = {key: _quoted(key) for key in set(names)}
    # Runs of equal stamps, found by comparing neighbours: hashing 1,000 freshly parsed aware datetimes
    # (for a set) calls each one's utcoffset() and took 0.4 ms. A stamp that comes back later in the
    # batch is sent again, which only costs a little more text.
    stamps: list[datetime] = []
    index: list[str] = []
    for stamp, same in groupby(times):
        count = sum(1 for _ in same)
        if stamp is None:
            index += ["NULL"] * count
        else:
            stamps.append(stamp)
            index += [str(len(stamps))] * count
    return {
        "run_id": run_id,
        "now": now,
        "keys": _array(map(keys.__getitem__, names)),
        "steps": _number_array(steps),
        "values": _number_array(values),
        # In UTC: PostgreSQL refuses an offset past 15:59, which Python (and so a client) allows.
        "stamps": _array(f'"{stamp.astimezone(UTC).isoformat()}"' for stamp in stamps),
        "stamp_index": _array(index),
    }


def _computed(
    rows: Sequence[tuple[str, int, float, datetime | None]], widths: Sequence[int]
) -> dict[str, str]:
    """The summaries and rollups of a batch whose every point is new, as array literals."""
    summaries = latest(rows)
    computed = {
        "summary_keys": _array(map(_quoted, summaries)),
        "summary_steps": _number_array([step for step, _ in summaries.values()]),
        "summary_values": _number_array([value for _, value in summaries.values()]),
    }
    names = ("keys", "widths", "buckets", "ns", "min_steps", "min_values", "max_steps", "max_values")
    columns = list(zip(*rollups(rows, widths), strict=True)) or [()] * len(names)
    for name, column in zip(names, columns, strict=True):
        computed[f"rollup_{name}"] = _array(map(_quoted, column)) if name == "keys" else _number_array(column)
    return computed


def _array(items: Iterable[str]) -> str:
    return "{" + ",".join(items) + "}"


def _number_array(numbers: Sequence[float]) -> str:
    """An array literal of finite numbers, from their JSON: pydantic_core writes each float as the shortest
    decimal that reads back exactly, as repr does, in a tenth of the time of joining 1,000 reprs (which
    was a fifth of the server's CPU per batch)."""
    return "{" + to_json(numbers).decode()[1:-1] + "}"


def _quoted(text_value: str) -> str:
    """A double-quoted array element (so that a key named NULL stays a string)."""
    return '"' + text_value.replace("\\", "\\\\").replace('"', '\\"') + '"'
