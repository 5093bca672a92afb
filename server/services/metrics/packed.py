"""Chart reads on PostgreSQL as one statement each, every series' columns packed into one value apiece.

The row reads (server.services.metrics.series) fetch one row per point or bucket: 50 series of 391 buckets
are 19,550 rows, and turning them into Python rows cost more than the database's part. Here each series
is one row whose columns are the big-endian bytes of its numbers (``int8send``/``float8send`` joined by
``string_agg``), which numpy reads without a Python object per number.

Each series is looked up in a LATERAL subquery by its own (run id, key[, width]): an index range scan on
the primary key whatever the table's statistics say. (With ``key IN (...)`` over a run's freshly logged
rollups, before ANALYZE had seen them, PostgreSQL scanned the whole run's index and filtered the keys:
250 ms instead of 8.)

Rows come in no particular order and are put in step order here (a series' steps are distinct, and so
are its buckets' minimum steps). tests/server/services/test_packed_reads.py holds these reads equal to the
row reads on the same data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection, text

#: For "no after_step": below every step (steps are at least 0) and every bucket.
NO_STEP = -1

_BUCKETS = text(
    """
SELECT w.i, b.n, b.min_steps, b.min_values, b.max_steps, b.max_values
FROM unnest(CAST(:run_ids AS integer[]), CAST(:keys AS text[]), CAST(:widths AS bigint[]),
            CAST(:after AS bigint[])) WITH ORDINALITY AS w(run_id, key, width, after_bucket, i)
CROSS JOIN LATERAL (
    SELECT sum(r.n) AS n,
           string_agg(int8send(r.min_step), '') AS min_steps,
           string_agg(float8send(r.min_value), '') AS min_values,
           string_agg(int8send(r.max_step), '') AS max_steps,
           string_agg(float8send(r.max_value), '') AS max_values
    FROM metric_rollups AS r
    WHERE r.run_id = w.run_id AND r.key = w.key AND r.width = w.width AND r.bucket > w.after_bucket
) AS b
WHERE b.n IS NOT NULL
"""
)

_POINTS = text(
    """
SELECT w.i, p.steps, p.point_values
FROM unnest(CAST(:run_ids AS integer[]), CAST(:keys AS text[])) WITH ORDINALITY AS w(run_id, key, i)
CROSS JOIN LATERAL (
    SELECT string_agg(int8send(m.step), '') AS steps, string_agg(float8send(m.value), '') AS point_values
    FROM metric_points AS m
    WHERE m.run_id = w.run_id AND m.key = w.key AND m.step > :after
) AS p
WHERE p.steps IS NOT NULL
"""
)

SeriesId = tuple[int, str]
#: A series' buckets in step order: how many points they count, and their min_steps, min_values,
#: max_steps, max_values.
BucketColumns = tuple[int, list[np.ndarray]]


def bucket_columns(
    connection: Connection, plan: Sequence[tuple[SeriesId, int]], after_step: int | None
) -> dict[SeriesId, BucketColumns]:
    """Each planned (series, width)'s buckets (those after the one holding `after_step`), in one statement;
    a series without such buckets is left out."""
    if not plan:
        return {}
    params = {
        "run_ids": [run_id for (run_id, _), _ in plan],
        "keys": [key for (_, key), _ in plan],
        "widths": [width for _, width in plan],
        "after": [NO_STEP if after_step is None else after_step // width for _, width in plan],
    }
    found: dict[SeriesId, BucketColumns] = {}
    for i, n, *packed in connection.execute(_BUCKETS, params):
        min_steps, min_values, max_steps, max_values = (
            _numbers(data, np.int64 if j % 2 == 0 else np.float64) for j, data in enumerate(packed)
        )
        order = _order(min_steps)
        columns = [min_steps[order], min_values[order], max_steps[order], max_values[order]]
        found[plan[i - 1][0]] = (int(n), columns)
    return found


def point_columns(
    connection: Connection, wanted: Sequence[SeriesId], after_step: int | None
) -> dict[SeriesId, tuple[np.ndarray, np.ndarray]]:
    """Each series' (steps, values) after `after_step`, in step order, in one statement; a series without
    such points is left out."""
    if not wanted:
        return {}
    params = {
        "run_ids": [run_id for run_id, _ in wanted],
        "keys": [key for _, key in wanted],
        "after": NO_STEP if after_step is None else after_step,
    }
    found: dict[SeriesId, tuple[np.ndarray, np.ndarray]] = {}
    for i, steps_data, values_data in connection.execute(_POINTS, params):
        steps, values = _numbers(steps_data, np.int64), _numbers(values_data, np.float64)
        order = _order(steps)
        found[wanted[i - 1]] = (steps[order], values[order])
    return found


def _numbers(data: bytes, dtype: type[np.generic]) -> np.ndarray:
    """The numbers packed by int8send/float8send (big-endian), in the machine's own byte order."""
    return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder(">")).astype(dtype)


def _order(steps: np.ndarray) -> np.ndarray | slice:
    """The order that sorts distinct `steps` (a slice taking all when they already are: the index order)."""
    if steps.size < 2 or bool(np.all(steps[1:] > steps[:-1])):
        return slice(None)
    return np.argsort(steps, kind="stable")
