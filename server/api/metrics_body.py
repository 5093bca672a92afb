"""A metric batch's body read straight into rows: the fast twin of `MetricsIn` for the common shape.

Pydantic builds a `MetricPointIn` per point, matches each key against its pattern, and parses and bounds
each point's timestamp: about 2 ms of a 1,000-point batch's 8.5 ms of server CPU, the largest single cost.
A batch holds few distinct keys and timestamps (a client stamps one step's points alike), so here
pydantic's own JSON parser (`from_json`, the same one, and twice as fast as `json.loads`) builds the tree,
each distinct key and timestamp is checked once, and every point becomes a plain (key, step, value,
timestamp) tuple, the writer's row.

The compact form, ``series`` (one object of columns per key), is read the same way: each key checked once,
each column by type and range, each distinct list of times read once (numbers by the schema's own
validator), and the rows laid out by the schema's own `series_rows`.

The twin accepts only input it is sure `MetricsIn` accepts, with the same values: UTF-8 JSON, an object
holding only ``metrics`` or only ``series``, points or series with exactly the schema's fields, integer
steps in range, finite numbers, RFC 3339 timestamps with an offset (or, in a series, numbers). Anything
else (a refusal, a non-finite value, a naive or unusual timestamp, a step sent as 1.0) returns None and
the caller validates with `MetricsIn` as before, so the 422s, their field locations and every lax
conversion stay pydantic's. tests/server/api/test_metrics_body.py holds the two equal on accepted and
refused inputs."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TypeVar, cast

from annotated_types import Ge, Le, MaxLen
from fastapi import Request
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import from_json

from server.api.deps import parse_json_body, refuse_too_many_values
from server.schemas import Locate, MetricPointIn, MetricsIn, PointRow
from server.schemas.common import SENT_MAX, SENT_MIN
from server.schemas.metrics import Columns, SeriesTimes, point_location, series_rows

T = TypeVar("T")


# The schema's own constraints, read from it so that the twin cannot drift from it.
def _metadata(field: FieldInfo, kind: type[T]) -> T:
    return next(m for m in field.metadata if isinstance(m, kind))


_KEY_FIELD = MetricPointIn.model_fields["key"]
_STEP_FIELD = MetricPointIn.model_fields["step"]
#: The key pattern, anchored by fullmatch (Python's `$` would let a trailing newline through).
_KEY = re.compile(next(m.pattern for m in _KEY_FIELD.metadata if hasattr(m, "pattern")).strip("^$"))
_KEY_MAX = int(_metadata(_KEY_FIELD, MaxLen).max_length)
_STEP_MIN = cast(int, _metadata(_STEP_FIELD, Ge).ge)
_STEP_MAX = cast(int, _metadata(_STEP_FIELD, Le).le)
_POINTS_MAX = int(_metadata(MetricsIn.model_fields["metrics"], MaxLen).max_length)
_SERIES_MAX = int(_metadata(MetricsIn.model_fields["series"], MaxLen).max_length)
#: A series' timestamps sent as numbers (seconds or milliseconds since the epoch), read by the schema's own
#: validator, so that its rules (which unit, the rounding, the bounds) stay pydantic's.
_SERIES_TIME = TypeAdapter(SeriesTimes)
#: What a client library sends: date, time, up to microseconds, and an offset (naive times go to pydantic).
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
_INT, _FLOAT, _NUMBER = {int}, {float}, {int, float}
#: The largest integer a float holds exactly: a larger one goes to pydantic, whose rounding then decides.
_EXACT = 2**53


#: JSON values a batch may hold, counted before it is parsed: a point has at most 4 fields (3 commas and
#: one between points).
METRICS_MAX_VALUES = 4 * _POINTS_MAX + 16


Batch = tuple[list[PointRow], Locate]


async def metric_rows(request: Request) -> Batch:
    """A dependency reading a `MetricsIn` body into rows, and where each came from: the fast twin where it
    can, else pydantic (its 422s unchanged). Like `json_body`, it runs after the access check, and counts
    values first."""
    body = await request.body()
    refuse_too_many_values(body, METRICS_MAX_VALUES)
    batch = read_batch(body)
    if batch is None:
        batch = parse_json_body(MetricsIn, body).rows()
    return batch


def read_batch(body: bytes) -> Batch | None:
    """The batch's points as (key, step, value, timestamp) rows with where each came from, or None where
    `MetricsIn` must decide."""
    try:
        document = from_json(body)
    except ValueError:
        return None
    if type(document) is not dict or len(document) != 1:
        return None
    if "series" in document:
        return _read_series(document["series"])
    rows = _read_points(document.get("metrics"))
    return None if rows is None else (rows, point_location)


def _read_points(points: object) -> list[PointRow] | None:
    """A `metrics` batch's rows, or None."""
    if type(points) is not list or len(points) > _POINTS_MAX:
        return None
    keys: set[str] = set()
    stamps: dict[str, datetime] = {}
    rows: list[PointRow] = []
    append = rows.append
    for point in points:
        if type(point) is not dict:
            return None
        fields = len(point)
        key, step, value = point.get("key"), point.get("step"), point.get("value")
        if fields == 3:
            when = None
        elif fields == 4 and "timestamp" in point:
            when = point["timestamp"]
        else:
            return None  # a field missing, or one the schema forbids
        if type(key) is not str or type(step) is not int:
            return None
        if key not in keys:
            if len(key) > _KEY_MAX or not _KEY.fullmatch(key):
                return None
            keys.add(key)
        if not _STEP_MIN <= step <= _STEP_MAX:
            return None
        if type(value) is float:
            if value - value != 0.0:  # inf or nan: the run's status decides, after pydantic
                return None
        elif type(value) is int and -_EXACT <= value <= _EXACT:
            value = float(value)
        else:
            return None
        if when is not None:
            if type(when) is not str:
                return None
            parsed = stamps.get(when)
            if parsed is None:
                parsed = _stamp(when)
                if parsed is None:
                    return None
                stamps[when] = parsed
            when = parsed
        append((key, step, value, when))
    return rows


def _read_series(items: object) -> Batch | None:
    """A `series` batch's rows, or None: each key checked once, each column's numbers by type and range,
    each distinct timestamp read once."""
    if type(items) is not list or len(items) > _SERIES_MAX:
        return None
    keys: set[str] = set()
    stamps: dict[str, datetime | None] = {}
    last_sent: list[object] | None = None
    last_when: list[datetime | None] | None = None
    columns: list[Columns] = []
    total = 0
    for item in items:
        if type(item) is not dict:
            return None
        key, steps, values = item.get("key"), item.get("steps"), item.get("values")
        fields = len(item)
        if fields == 3:
            times = None
        elif fields == 4 and "timestamps" in item:
            times = item["timestamps"]
        else:
            return None
        if type(key) is not str or type(steps) is not list or type(values) is not list:
            return None
        if key not in keys:
            if len(key) > _KEY_MAX or not _KEY.fullmatch(key):
                return None
            keys.add(key)
        total += len(steps)
        if len(values) != len(steps) or total > _POINTS_MAX:
            return None
        if steps and set(map(type, steps)) != _INT:  # a bool, a float or a string: pydantic decides
            return None
        if steps and not (_STEP_MIN <= min(steps) and max(steps) <= _STEP_MAX):
            return None
        numbers = _finite_floats(values)
        if numbers is None:
            return None
        when = None
        if times is not None:
            if type(times) is not list or len(times) != len(steps):
                return None
            # Series logged together carry the same times: read once, for the first of them.
            if times is not last_sent and times != last_sent:
                last_when = _read_times(times, stamps)
                if last_when is None:
                    return None
                last_sent = times
            when = last_when
        columns.append((key, steps, numbers, when))
    return series_rows(columns)


def _finite_floats(values: list[object]) -> list[float] | None:
    """`values` as floats, or None for anything but finite floats and exactly held integers."""
    if not values or set(map(type, values)) == _FLOAT:
        total = sum(cast(list[float], values))
        if total - total == 0.0:  # a finite sum: no inf or nan among them (an overflow checks one by one)
            return cast(list[float], values)
    numbers: list[float] = []
    append = numbers.append
    for value in values:
        if type(value) is float:
            if value - value != 0.0:
                return None
            append(value)
        elif type(value) is int and -_EXACT <= value <= _EXACT:
            append(float(value))
        else:
            return None
    return numbers


def _read_times(times: list[object], stamps: dict[str, datetime | None]) -> list[datetime | None] | None:
    """A series' timestamps, or None where `MetricsIn` must decide: numbers (seconds or milliseconds since
    the epoch) by the schema's own validator in one call, so its rules (which unit, the rounding, the bounds)
    stay pydantic's; strings as a `metrics` batch's, each distinct one parsed once."""
    if times and set(map(type, times)) <= _NUMBER:
        try:
            return _SERIES_TIME.validate_python(times)
        except ValidationError:
            return None
    read: list[datetime | None] = []
    for sent in times:
        if sent is None:
            read.append(None)
            continue
        if type(sent) is not str:
            return None
        parsed = stamps.get(sent)
        if parsed is None:
            parsed = stamps[sent] = _stamp(sent)
            if parsed is None:
                return None
        read.append(parsed)
    return read


def _stamp(text: str) -> datetime | None:
    """An RFC 3339 time with an offset, within SentDatetime's bounds; None for anything else."""
    if not _STAMP.fullmatch(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
        return parsed if SENT_MIN <= parsed <= SENT_MAX else None
    except (ValueError, OverflowError):
        return None
