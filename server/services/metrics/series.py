"""Chart reads at a flat cost: many series (of one run or several) at once, each reduced to at most
``max_points`` points that keep its minima and maxima, and optionally only the points after a step.

Every series is read from at most about ``max_points`` rows, whatever its length:

- a series of at most ``RAW_FACTOR * max_points`` points (or whose points after ``after_step`` can be no
  more than that) is read from its points and reduced with ``downsample_minmax``;
- a longer one from the finest rollup width (metrics.rollups.ROLLUP_WIDTHS, 4x apart) that gives at most
  ``ROLLUP_OVERSAMPLING`` buckets per point pair asked for, merged in numpy (``merge_extremes``) plus its
  first and last points. Widths 4x apart make that between a quarter of the budget and the budget of
  buckets once the finest width has enough of them.

A run logged before the current widths lacks some of them (or has them only for its later points): a width
is trusted only when its buckets count every point of the series; otherwise the read falls back to the
widths such runs have (LEGACY_ROLLUP_WIDTHS, by the rule of their time) or to the points.

Queries go per width (and one for the ends and counts, one for raw points), not per series."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import Annotated, Any

import numpy as np
from fastapi import Query
from pydantic_core import to_json
from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, or_, select

from server.errors import InvalidInput, NotFound
from server.learning_curves import downsample_minmax, merge_extremes
from server.schemas import MetricSeries, Text
from server.services.metrics.packed import NO_STEP, BucketColumns, bucket_columns, point_columns
from server.services.metrics.rollups import LEGACY_ROLLUP_WIDTHS, ROLLUP_WIDTHS
from server.tables import MetricPoint, MetricRollup, Run, RunSummary

#: A series of at most this many times max_points points is read from its points (a raw row costs about
#: what a rollup row does: 4,000 of them took 8 ms on SQLite, twice the dearest rollup read).
RAW_FACTOR = 1
#: Buckets read per point pair asked for, at most: with widths 4x apart, a long series then reads between
#: a quarter of (max_points - 2) / 2 buckets and all of them, each bucket's minimum and maximum kept as is.
#: 2 read twice the rows for a finer chart than a screen shows (50 series of 100,000 points: 78,000 rows).
ROLLUP_OVERSAMPLING = 1
#: Runs logged before width 16 existed fall back to their time's rule: points up to this many, else
#: their finest width with at most 8 buckets per point pair asked for.
LEGACY_RAW_LIMIT = 50_000
LEGACY_OVERSAMPLING = 8

#: The most series one request reads, and the most points it may ask for in all (series x max_points).
MAX_SERIES = 100
MAX_REQUESTED_POINTS = 200_000
#: The most points a read `with_time` may ask for in all: each point's timestamp is looked up by its key.
MAX_TIMED_POINTS = 50_000
#: Points per timestamp query (bound parameters stay far below SQLite's limit).
TIME_CHUNK = 5_000
#: Databases read through server.services.metrics.packed (a statement per read, a row per series);
#: the others read a row per point or bucket.
PACKED_DIALECTS = frozenset({"postgresql"})

# The query parameters of the chart reads (routes in server.api.v1.runs and .metric_series).
KeysQuery = Annotated[
    list[Text] | None,
    Query(max_length=MAX_SERIES, description="Metric keys, comma-separated (or repeated): a,b,c."),
]
MaxPointsQuery = Annotated[int | None, Query(ge=2, le=100_000)]
WithTimeQuery = Annotated[
    bool,
    Query(
        description="Also each point's timestamp (`times`, Unix seconds, one per point) for charts against "
        "wall-clock or relative time; needs max_points, and at most MAX_TIMED_POINTS points in all."
    ),
]
AfterStepQuery = Annotated[
    int | None, Query(ge=0, le=2**62, description="Only the points after this step (live updates).")
]

_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,250}$")  # schemas.MetricKey's rule

_POINTS = MetricPoint.__table__.c
_ROLLUPS = MetricRollup.__table__.c
_SUMMARIES = RunSummary.__table__.c

SeriesId = tuple[int, str]  # run id, key


@dataclass(frozen=True)
class Ends:
    """What planning a series' read needs: its point count (from the coarsest rollup, None if it has
    none) and its first and last (step, value) after ``after_step`` (None if there are none)."""

    total: int | None
    first: tuple[int, float] | None
    last: tuple[int, float] | None


def parse_keys(values: list[str]) -> list[str]:
    """ "a,b,c" (or repeated ?keys=) -> each key once, in order; InvalidInput naming `keys`."""
    keys: list[str] = []
    for part in ",".join(values).split(","):
        part = part.strip()
        if not part:
            continue
        if not _KEY.match(part):
            raise InvalidInput(
                ["query", "keys"],
                f"keys: expected metric keys such as loss,dev_error (letters, digits, _ . - / :, "
                f"at most 250 each), but got {part[:60]!r}",
            )
        if part not in keys:
            keys.append(part)
    if not keys:
        raise InvalidInput(["query", "keys"], "keys: name at least one metric key, such as keys=loss")
    return keys


def check_request_size(series: int, max_points: int | None, *, with_time: bool = False) -> None:
    """InvalidInput unless a read of `series` series at `max_points` each stays within the bounds."""
    if with_time:
        if max_points is None:
            raise InvalidInput(["query", "max_points"], "max_points: required with with_time")
        if series * max_points > MAX_TIMED_POINTS:
            raise InvalidInput(
                ["query", "max_points"],
                f"max_points: with with_time, {series} series x {max_points} points is over "
                f"{MAX_TIMED_POINTS:,} in all; ask for at most {MAX_TIMED_POINTS // series} points "
                "per series",
            )
    if series > MAX_SERIES:
        raise InvalidInput(
            ["query", "keys"], f"keys: at most {MAX_SERIES} series per request, but this asks for {series}"
        )
    if max_points is None:
        if series > 1:
            raise InvalidInput(
                ["query", "max_points"], "max_points: required when reading more than one series at once"
            )
        return
    if series * max_points > MAX_REQUESTED_POINTS:
        raise InvalidInput(
            ["query", "max_points"],
            f"max_points: {series} series x {max_points} points is over {MAX_REQUESTED_POINTS:,} in all; "
            f"ask for at most {MAX_REQUESTED_POINTS // series} points per series",
        )


def check_runs_exist(connection: Connection, run_ids: list[int]) -> None:
    """NotFound for the first of `run_ids` that does not exist (with auth off nothing else checks them)."""
    found = set(connection.scalars(select(Run.__table__.c.id).where(Run.__table__.c.id.in_(run_ids))))
    missing = [run_id for run_id in run_ids if run_id not in found]
    if missing:
        raise NotFound("Run", missing[0])


def choose_width(count: int, span: int, max_points: int, widths: Sequence[int], oversampling: int) -> int:
    """The finest of `widths` whose bucket count for `count` points over `span` steps (at most the span
    over the width plus one, and at most the point count) is within `oversampling` buckets per point pair
    of `max_points`; the coarsest if none is."""
    most = oversampling * max(1, (max_points - 2) // 2)
    ordered = sorted(widths)
    return next((w for w in ordered if min(count, span // w + 1) <= most), ordered[-1])


def reads_raw(count: int, span: int, max_points: int | None, raw_limit: int | None = None) -> bool:
    """Whether a series of `count` points (or a range of steps `span` wide, which can hold no more)
    is read from its points: always without max_points, else when it is at most `raw_limit`
    (RAW_FACTOR x max_points unless given)."""
    if max_points is None:
        return True
    limit = RAW_FACTOR * max_points if raw_limit is None else raw_limit
    return min(count, span + 1) <= limit


def read_many(
    connection: Connection,
    series: Sequence[SeriesId],
    max_points: int | None,
    *,
    after_step: int | None = None,
    raw_limit: int | None = None,
    with_time: bool = False,
) -> dict[SeriesId, MetricSeries]:
    """The requested series that have points (after `after_step`), each reduced to at most `max_points`
    (`with_time`: with each point's timestamp in `times`).

    A series without points (after `after_step`) is left out. ``total_points`` counts the points the
    answer covers (all of the series, or those after `after_step`). The caller checks access to the runs."""
    wanted = list(dict.fromkeys(series))
    if not wanted:
        return {}
    ends = _ends(connection, wanted, after_step)
    raw: list[SeriesId] = []
    plan: dict[SeriesId, int] = {}  # series read from rollups -> the width
    for ident in wanted:
        end = ends.get(ident)
        if end is None or end.first is None or end.last is None:
            continue
        span = end.last[0] - end.first[0]
        count = end.total if end.total is not None else span + 1
        if end.total is None or max_points is None or reads_raw(count, span, max_points, raw_limit):
            raw.append(ident)
        else:
            plan[ident] = choose_width(count, span, max_points, ROLLUP_WIDTHS, ROLLUP_OVERSAMPLING)
    found = _read_raw(connection, raw, max_points, after_step, with_time=with_time)
    complete, retry = _read_buckets(connection, plan, max_points or 2, ends, after_step)
    found |= complete
    found |= _read_legacy(connection, retry, max_points or 2, ends, after_step)
    if with_time:
        _attach_times(connection, found)
    return {ident: found[ident] for ident in wanted if ident in found}


def _attach_times(connection: Connection, found: dict[SeriesId, MetricSeries]) -> None:
    """Set the `times` of each series read from rollups from its points' timestamps: a query per
    TIME_CHUNK points, each point found by its primary key."""
    stamps: dict[tuple[int, str, int], float] = {}
    chunk: list[tuple[SeriesId, list[int]]] = []
    size = 0

    def flush() -> None:
        clauses = [
            and_(_POINTS.run_id == run_id, _POINTS.key == key, _POINTS.step.in_(steps))
            for (run_id, key), steps in chunk
        ]
        query = select(_POINTS.run_id, _POINTS.key, _POINTS.step, _POINTS.timestamp).where(or_(*clauses))
        for run_id, key, step, stamp in connection.execute(query):
            stamps[run_id, key, step] = _seconds(stamp)

    missing = {ident: series for ident, series in found.items() if series.times is None}
    for ident, series in missing.items():
        steps = [step for step, _ in series.points]
        for start in range(0, len(steps), TIME_CHUNK):
            part = steps[start : start + TIME_CHUNK]
            if size + len(part) > TIME_CHUNK and chunk:
                flush()
                chunk, size = [], 0
            chunk.append((ident, part))
            size += len(part)
    if chunk:
        flush()
    for (run_id, key), series in missing.items():
        series.times = [stamps.get((run_id, key, step), math.nan) for step, _ in series.points]


def series_json(found: dict[SeriesId, MetricSeries], *, with_run_ids: bool = False) -> bytes:
    """`{"series": [...]}` of MetricSeriesList (RunsMetricSeriesList `with_run_ids`), written by pydantic_core
    straight from the points: validating then serializing 50 series' points through the models cost a third
    of the request."""
    return to_json(
        {
            "series": [
                ({"run_id": run_id} if with_run_ids else {}) | _series_fields(series)
                for (run_id, _), series in found.items()
            ]
        }
    )


def one_series_json(series: MetricSeries) -> bytes:
    """One MetricSeries as JSON (`times` left out when None), written as series_json writes each of its
    series: through the response model, a 2,000-point series took 14 % of its request to validate again."""
    return to_json(_series_fields(series))


def _series_fields(series: MetricSeries) -> dict[str, Any]:
    return {
        "key": series.key,
        "points": series.points,
        "downsampled": series.downsampled,
        "total_points": series.total_points,
    } | ({} if series.times is None else {"times": series.times})


def _ends(connection: Connection, wanted: list[SeriesId], after_step: int | None) -> dict[SeriesId, Ends]:
    """Each series' point count, first and last point (after `after_step`), in one query: a run's
    summaries name the series it has, and each value comes from an index (a primary key's prefix)."""
    same = and_(_POINTS.run_id == _SUMMARIES.run_id, _POINTS.key == _SUMMARIES.key)
    if after_step is not None:
        same = and_(same, _POINTS.step > after_step)
    first = select(_POINTS.step).where(same).order_by(_POINTS.step).limit(1)
    last = select(_POINTS.step).where(same).order_by(_POINTS.step.desc()).limit(1)
    first_value = select(_POINTS.value).where(same).order_by(_POINTS.step).limit(1)
    last_value = select(_POINTS.value).where(same).order_by(_POINTS.step.desc()).limit(1)
    total = select(func.sum(_ROLLUPS.n)).where(
        _ROLLUPS.run_id == _SUMMARIES.run_id,
        _ROLLUPS.key == _SUMMARIES.key,
        _ROLLUPS.width == ROLLUP_WIDTHS[-1],
    )
    query = select(
        _SUMMARIES.run_id,
        _SUMMARIES.key,
        total.scalar_subquery(),
        first.scalar_subquery(),
        first_value.scalar_subquery(),
        last.scalar_subquery(),
        last_value.scalar_subquery(),
    ).where(_in(_SUMMARIES, wanted))
    found: dict[SeriesId, Ends] = {}
    for run_id, key, n, first_step, first_v, last_step, last_v in connection.execute(query):
        found[run_id, key] = Ends(
            None if n is None else int(n),
            None if first_step is None else (int(first_step), float(first_v)),
            None if last_step is None else (int(last_step), float(last_v)),
        )
    return found


def _in(columns: Any, wanted: list[SeriesId]) -> ColumnElement[bool]:
    """(run_id, key) among `wanted`: key IN (...) for one run (an index range per key on both databases)."""
    runs = {run_id for run_id, _ in wanted}
    if len(runs) == 1:
        return and_(columns.run_id == next(iter(runs)), columns.key.in_([key for _, key in wanted]))
    return or_(
        *(
            and_(columns.run_id == run_id, columns.key.in_([k for r, k in wanted if r == run_id]))
            for run_id in sorted(runs)
        )
    )


def _read_raw(
    connection: Connection,
    wanted: list[SeriesId],
    max_points: int | None,
    after_step: int | None,
    *,
    with_time: bool = False,
) -> dict[SeriesId, MetricSeries]:
    """The series from their points (`with_time`: with their timestamps, read in the same query)."""
    if not wanted:
        return {}
    if with_time or connection.dialect.name not in PACKED_DIALECTS:
        columns = _point_rows(connection, wanted, after_step, with_time=with_time)
    else:
        columns = {
            ident: (steps, values, None)
            for ident, (steps, values) in point_columns(connection, wanted, after_step).items()
        }
    found: dict[SeriesId, MetricSeries] = {}
    for (run_id, key), (steps, values, times) in columns.items():
        downsampled = max_points is not None and steps.size > max_points
        kept = steps
        if downsampled and max_points is not None:
            kept, values = downsample_minmax(steps, values, max_points)
        series = MetricSeries.model_construct(
            key=key, points=_pairs(kept, values), downsampled=downsampled, total_points=steps.size
        )
        if times is not None:  # a series' steps are sorted and distinct: find the kept ones' times
            series.times = times[np.searchsorted(steps, kept)].tolist()
        found[run_id, key] = series
    return found


def _point_rows(
    connection: Connection, wanted: list[SeriesId], after_step: int | None, *, with_time: bool
) -> dict[SeriesId, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Each series' steps, values (and `with_time` timestamps) in step order, read as rows (one series'
    without its run id and key on each: the most common read, a third cheaper)."""
    single = len(wanted) == 1
    columns = (
        [_POINTS.step, _POINTS.value]
        if single
        else [_POINTS.run_id, _POINTS.key, _POINTS.step, _POINTS.value]
    )
    query = select(*columns, *([_POINTS.timestamp] if with_time else [])).where(_in(_POINTS, wanted))
    if after_step is not None:
        query = query.where(_POINTS.step > after_step)
    rows = connection.execute(query.order_by(_POINTS.run_id, _POINTS.key, _POINTS.step)).all()
    if not rows:
        return {}
    if single:
        step_column, value_column, *stamp_column = zip(*rows, strict=True)  # columns, at C speed
        spans = [(wanted[0], 0, len(rows))]
    else:
        run_ids, keys, step_column, value_column, *stamp_column = zip(*rows, strict=True)
        spans = _runs_of(run_ids, keys)
    all_steps = np.array(step_column, dtype=np.int64)
    all_values = np.array(value_column, dtype=np.float64)
    all_times = np.array([_seconds(stamp) for stamp in stamp_column[0]]) if with_time else None
    return {
        ident: (
            all_steps[start:stop],
            all_values[start:stop],
            None if all_times is None else all_times[start:stop],
        )
        for ident, start, stop in spans
    }


def _seconds(stamp: datetime) -> float:
    """A stored timestamp in Unix seconds (SQLite hands back its UTC time without the zone)."""
    return (stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)).timestamp()


def _runs_of(run_ids: Sequence[int], keys: Sequence[str]) -> list[tuple[SeriesId, int, int]]:
    """(series, start, stop) of each run of equal (run id, key) in the two columns."""
    spans: list[tuple[SeriesId, int, int]] = []
    start = 0
    for ident, members in groupby(zip(run_ids, keys, strict=True)):
        stop = start + sum(1 for _ in members)
        spans.append((ident, start, stop))
        start = stop
    return spans


def _read_buckets(
    connection: Connection,
    plan: dict[SeriesId, int],
    max_points: int,
    ends: dict[SeriesId, Ends],
    after_step: int | None,
) -> tuple[dict[SeriesId, MetricSeries], list[SeriesId]]:
    """The series from their buckets of the width planned for each, and those whose width does not count
    every point (logged before the width was kept), to be read another way."""
    if not plan:
        return {}, []
    read = bucket_columns if connection.dialect.name in PACKED_DIALECTS else _bucket_rows
    columns = read(connection, list(plan.items()), after_step)
    partial: dict[SeriesId, list[tuple[int, float]]] = {}
    whole: set[SeriesId] = set()  # with after_step: those whose width was kept from their first point on
    if after_step is not None:
        for width, members in _by_width(plan).items():
            partial |= _partial_bucket(connection, members, width, after_step)
            whole |= _with_first_bucket(connection, members, width)
    found: dict[SeriesId, MetricSeries] = {}
    for ident in plan:
        if ident not in columns:
            continue
        counted, chunk = columns[ident]
        end = ends[ident]
        if after_step is None and counted != end.total:
            continue  # some points predate this width
        if after_step is not None and ident not in whole:
            continue
        head = partial.get(ident)
        if head:  # the points of the bucket holding after_step, each a bucket of its own
            steps = np.array([p[0] for p in head], dtype=np.int64)
            values = np.array([p[1] for p in head], dtype=np.float64)
            chunk = [
                np.concatenate([extra, part]) for extra, part in zip((steps, values) * 2, chunk, strict=True)
            ]
        found[ident] = _merged(ident[1], chunk, max_points, end, counted + len(head or ()))
    return found, [ident for ident in plan if ident not in found]


def _by_width(plan: dict[SeriesId, int]) -> dict[int, list[SeriesId]]:
    grouped: dict[int, list[SeriesId]] = defaultdict(list)
    for ident, width in plan.items():
        grouped[width].append(ident)
    return dict(sorted(grouped.items()))


#: One series' buckets of one width after a bucket (NO_STEP: all of them), in bucket order.
_SERIES_BUCKETS = (
    select(_ROLLUPS.n, _ROLLUPS.min_step, _ROLLUPS.min_value, _ROLLUPS.max_step, _ROLLUPS.max_value)
    .where(
        _ROLLUPS.run_id == bindparam("run_id"),
        _ROLLUPS.key == bindparam("key"),
        _ROLLUPS.width == bindparam("width"),
        _ROLLUPS.bucket > bindparam("after_bucket"),
    )
    .order_by(_ROLLUPS.bucket)
)


def _bucket_rows(
    connection: Connection, plan: Sequence[tuple[SeriesId, int]], after_step: int | None
) -> dict[SeriesId, BucketColumns]:
    """packed.bucket_columns read as rows: each planned (series, width)'s buckets after the one holding
    `after_step`, one indexed range per series, in the primary key's order, numbers only. (One query for all
    of them returned each row's run id and key and needed sorting: 50 series of 100,000 points, 19,550 rows,
    took 50-77 ms on SQLite against 32-55.)"""
    found: dict[SeriesId, BucketColumns] = {}
    for (run_id, key), width in plan:
        after_bucket = NO_STEP if after_step is None else after_step // width
        params = {"run_id": run_id, "key": key, "width": width, "after_bucket": after_bucket}
        rows = connection.execute(_SERIES_BUCKETS, params).all()
        if not rows:
            continue
        counts, min_steps, min_values, max_steps, max_values = zip(*rows, strict=True)  # columns, at C speed
        found[run_id, key] = (
            sum(counts),
            [
                np.array(min_steps, dtype=np.int64),
                np.array(min_values, dtype=np.float64),
                np.array(max_steps, dtype=np.int64),
                np.array(max_values, dtype=np.float64),
            ],
        )
    return found


def _partial_bucket(
    connection: Connection, members: list[SeriesId], width: int, after_step: int
) -> dict[SeriesId, list[tuple[int, float]]]:
    """The points after `after_step` in the bucket that holds it (fewer than `width`), per series."""
    boundary = (after_step // width + 1) * width
    query = (
        select(_POINTS.run_id, _POINTS.key, _POINTS.step, _POINTS.value)
        .where(_in(_POINTS, members), _POINTS.step > after_step, _POINTS.step < boundary)
        .order_by(_POINTS.run_id, _POINTS.key, _POINTS.step)
    )
    found: dict[SeriesId, list[tuple[int, float]]] = defaultdict(list)
    for run_id, key, step, value in connection.execute(query):
        found[run_id, key].append((step, value))
    return found


def _with_first_bucket(connection: Connection, members: list[SeriesId], width: int) -> set[SeriesId]:
    """Those of `members` whose `width` was kept from their first point on (a run logged before the width
    was added lacks the bucket holding its first point), in one statement: each series' first step and its
    bucket from indexes (primary keys' prefixes). Steps are at least 0, so floor division is the bucket."""
    same = and_(_POINTS.run_id == _SUMMARIES.run_id, _POINTS.key == _SUMMARIES.key)
    first = select(_POINTS.step).where(same).order_by(_POINTS.step).limit(1).scalar_subquery()
    kept = (
        select(_ROLLUPS.n)
        .where(
            _ROLLUPS.run_id == _SUMMARIES.run_id,
            _ROLLUPS.key == _SUMMARIES.key,
            _ROLLUPS.width == width,
            _ROLLUPS.bucket == first // width,
        )
        .exists()
    )
    query = select(_SUMMARIES.run_id, _SUMMARIES.key).where(_in(_SUMMARIES, members), kept)
    return {(run_id, key) for run_id, key in connection.execute(query)}


def _merged(key: str, columns: list[np.ndarray], max_points: int, end: Ends, total: int) -> MetricSeries:
    """Bucket extremes merged down to max_points, with the series' first and last points."""
    assert end.first is not None and end.last is not None
    budget = (max_points - 2) // 2
    if budget > 0:
        min_steps, min_values, max_steps, max_values = columns
        steps, values = merge_extremes(min_steps, min_values, max_steps, max_values, budget)
    else:
        steps, values = np.empty(0, dtype=np.int64), np.empty(0)
    steps = np.concatenate([[end.first[0]], steps, [end.last[0]]]).astype(np.int64)
    values = np.concatenate([[end.first[1]], values, [end.last[1]]])
    steps, keep = np.unique(steps, return_index=True)
    return MetricSeries.model_construct(
        key=key, points=_pairs(steps, values[keep]), downsampled=True, total_points=total
    )


def _read_legacy(
    connection: Connection,
    wanted: list[SeriesId],
    max_points: int,
    ends: dict[SeriesId, Ends],
    after_step: int | None,
) -> dict[SeriesId, MetricSeries]:
    """Series whose rollups predate the current widths: by the rule of their time (points up to
    LEGACY_RAW_LIMIT, else the finest legacy width fitting), else from their points."""
    raw: list[SeriesId] = []
    plan: dict[SeriesId, int] = {}
    for ident in wanted:
        end = ends[ident]
        assert end.first is not None and end.last is not None and end.total is not None
        span = end.last[0] - end.first[0]
        if min(end.total, span + 1) <= LEGACY_RAW_LIMIT:
            raw.append(ident)
        else:
            plan[ident] = choose_width(end.total, span, max_points, LEGACY_ROLLUP_WIDTHS, LEGACY_OVERSAMPLING)
    found, incomplete = _read_buckets(connection, plan, max_points, ends, after_step)
    return found | _read_raw(connection, raw + incomplete, max_points, after_step)


def _pairs(steps: np.ndarray, values: np.ndarray) -> list[tuple[int, float]]:
    return list(zip(steps.tolist(), values.tolist(), strict=True))
