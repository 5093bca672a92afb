"""The run row: RunRead's fields in order, each with the column it is read from.

Every run query (``to_read``'s ORM read, the run list's rows, the JSON fast path's rows) and the JSON
writer are derived from RUN_READ_FIELDS, so a field added to RunRead and to the runs table is added here
once (tests/server/services/test_run_columns.py pins RunRead's fields to this list, and the JSON fast
path's output to RunRead's for real runs on both databases)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import InstrumentedAttribute

from server.schemas import RunRead, as_utc
from server.tables import Project, Run, RunSummary

#: RunRead's fields, in its order. Each is the runs column of the same name, except these two:
#: ``dataset`` is the project's, ``summary`` each metric's latest value (run_summaries, read per page).
RUN_READ_FIELDS = (
    "id", "project_id", "parent_id", "name", "status", "external", "dataset", "config", "params",
    "summary", "progress", "error", "worker", "attempt", "created_at", "started_at", "finished_at",
    "heartbeat_at", "sweep_id", "stopped_early", "group", "tags", "notes", "environment", "log_tail",
    "archived_at",
)  # fmt: skip
DATASET, SUMMARY = "dataset", "summary"


def _column(name: str) -> InstrumentedAttribute[Any]:
    return Project.dataset if name == DATASET else getattr(Run, name)


#: The columns of a run row (every field but the summary), in RunRead's order.
ROW_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    name: _column(name) for name in RUN_READ_FIELDS if name != SUMMARY
}
#: The fields read from a Run object as they are (the dataset comes from its project).
_RUN_ATTRIBUTES = tuple(name for name in ROW_COLUMNS if name != DATASET)


def to_read(run: Run, dataset: str | None = None) -> RunRead:
    """The run as the API shows it (``dataset``: its project's, when the caller has it at hand)."""
    return RunRead(
        **{name: getattr(run, name) for name in _RUN_ATTRIBUTES},
        dataset=dataset if dataset is not None else run.project.dataset,
        summary={s.key: s.value for s in run.summaries},
    )


def _is_json(name: str) -> bool:
    return isinstance(ROW_COLUMNS[name].type, JSON)


# A page of runs, built once: with an expanding IN parameter, SQLAlchemy neither coerces 50 literals nor
# computes a cache key per request.
RUN_ROWS = (
    select(*ROW_COLUMNS.values())
    .join(Project, Project.id == Run.project_id)
    .where(Run.id.in_(bindparam("run_ids", expanding=True)))
)
SUMMARY_ROWS = (
    select(RunSummary.run_id, RunSummary.key, RunSummary.value)
    .where(RunSummary.run_id.in_(bindparam("run_ids", expanding=True)))
    .order_by(RunSummary.run_id, RunSummary.key)
)

# The page's runs for the JSON path: the JSON columns come as the JSON text the database holds (CAST is a
# no-op on SQLite; PostgreSQL's json type keeps the text as written).
RUN_JSON_ROWS = (
    select(*(cast(column, Text) if _is_json(name) else column for name, column in ROW_COLUMNS.items()))
    .join(Project, Project.id == Run.project_id)
    .where(Run.id.in_(bindparam("run_ids", expanding=True)))
)
# PostgreSQL adds each run's summary as a JSON object, in key order as SUMMARY_ROWS reads it: one round
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
RUN_JSON_ROWS_WITH_SUMMARY = (
    select(
        *RUN_JSON_ROWS.selected_columns,
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


#: Each row column's position in RUN_JSON_ROWS.
_POSITIONS = {name: index for index, name in enumerate(ROW_COLUMNS)}


@dataclass(frozen=True)
class _Plain:
    """A stretch of fields written by one ``to_json`` of a dict (datetimes made UTC first)."""

    names: tuple[str, ...]
    values: Callable[[Sequence[Any]], tuple[Any, ...]]
    datetimes: tuple[int, ...]


def _getter(indexes: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The row's values at ``indexes``, as a tuple (itemgetter of one index gives the value alone)."""
    if len(indexes) == 1:
        only = indexes[0]
        return lambda row: (row[only],)
    return itemgetter(*indexes)


def _segments() -> list[_Plain | str]:
    """How a run's JSON is written, in field order: stretches of plain fields, and the names of the
    fields spliced in as stored JSON text (JSON columns, and the summary)."""
    positions = _POSITIONS
    segments: list[_Plain | str] = []
    stretch: list[str] = []
    for name in (*RUN_READ_FIELDS, None):
        if name is not None and name != SUMMARY and not _is_json(name):
            stretch.append(name)
            continue
        if stretch:
            getter = _getter([positions[n] for n in stretch])
            datetimes = tuple(i for i, n in enumerate(stretch) if isinstance(ROW_COLUMNS[n].type, DateTime))
            segments.append(_Plain(tuple(stretch), getter, datetimes))
            stretch = []
        if name is not None:
            segments.append(name)
    return segments


_SEGMENTS = _segments()


def run_json(row: Sequence[Any], summary: bytes) -> bytes:
    """A RUN_JSON_ROWS row and its summary's JSON as the run's RunRead JSON, written without the model."""
    parts = []
    for segment in _SEGMENTS:
        if isinstance(segment, str):
            value = summary if segment == SUMMARY else stored_json(row[_POSITIONS[segment]])
            parts.append(b'"%s":%s' % (segment.encode(), value))
            continue
        values = list(segment.values(row))
        for index in segment.datetimes:
            values[index] = as_utc(values[index])
        parts.append(to_json(dict(zip(segment.names, values, strict=True)))[1:-1])
    return b"{%s}" % b",".join(parts)


def stored_json(text: str | None) -> bytes:
    """A JSON column's stored text, as the reply's JSON of its value."""
    if text is None:
        return b"null"
    if "NaN" in text or "Infinity" in text:
        # Python's json writes non-finite floats as NaN/Infinity, which is not JSON; pydantic writes null.
        return to_json(json.loads(text), inf_nan_mode="null")
    return text.encode()
