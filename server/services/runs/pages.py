"""Which runs make up one page of the runs list, in order: by offset or by keyset cursor.

A sort by a summary metric walks the run_summaries (key, value) index in value order and stops after
one page, instead of computing every run's value with a correlated subquery and sorting them all
(10,000 runs: the page query takes 0.1 ms instead of 4-40 ms). Runs without the metric come after,
newest first.

Each statement is built once per shape (which filters, which sort, which kind of cursor) with its
values as bound parameters, and kept: building a statement and computing its cache key cost 0.5 ms a
statement, more than SQLite took to run it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, exists, func, null, or_, select
from sqlalchemy.orm import Session

from server.diagnosis import GAPS
from server.errors import InvalidInput
from server.schemas import as_utc
from server.services.runs.gap_order import gap_expression
from server.tables import Run, RunSummary

RUN_FIELDS = {"id", "name", "status", "created_at", "started_at", "finished_at"}
NULLABLE_FIELDS = {"started_at", "finished_at"}

#: (run id, its sort value) for each run of a page, in page order.
PageRows = list[tuple[int, Any]]

# Up to this many matching runs, a summary sort reads them all and sorts them (under a millisecond). With
# more, it walks the metric's index until the page is full, which reads about page size x (runs with the
# metric / matching runs) index entries: fast when the filters keep a fair share of the runs.
WALK_FROM = 1000

LIMIT: BindParameter[int] = bindparam("limit")
OFFSET: BindParameter[int] = bindparam("offset")
LAST_VALUE: BindParameter[Any] = bindparam("last_value")
LAST_ID: BindParameter[int] = bindparam("last_id")


@dataclass(frozen=True)
class RunFilters:
    """Which runs a list shows: one project's, one status's, only the projects in ``visible``; archived
    runs or the others; those meeting a filter expression (``where``, from ``filtering``)."""

    project_id: int | None = None
    status: str | None = None
    visible: Select[int] | None = None
    archived: bool = False
    where: ColumnElement[bool] | None = field(default=None, compare=False)

    def clauses(self) -> list[ColumnElement[bool]]:
        """WHEREs on runs, with the values as the bound parameters of ``params``."""
        clauses: list[ColumnElement[bool]] = []
        if self.project_id is not None:
            clauses.append(Run.project_id == bindparam("project_id"))
        if self.status is not None:
            clauses.append(Run.status == bindparam("status"))
        if self.visible is not None:
            clauses.append(Run.project_id.in_(self.visible))
        clauses.append(Run.archived_at.is_not(None) if self.archived else Run.archived_at.is_(None))
        if self.where is not None:
            clauses.append(self.where)
        return clauses

    def params(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "status": self.status}

    def shape(self) -> tuple[bool, bool, bool] | None:
        """What the statements built from ``clauses`` depend on; None for a ``visible`` subquery, which
        carries its viewer's id in it, or a filter expression (those statements are built for each
        request)."""
        if self.visible is not None or self.where is not None:
            return None
        return self.project_id is not None, self.status is not None, self.archived


_STATEMENTS: dict[tuple[Any, ...], Select[int, Any]] = {}


def statement(
    filters: RunFilters, shape: tuple[Any, ...], build: Callable[[], Select[int, Any]]
) -> Select[int, Any]:
    """``build()``, kept for ``filters`` of the same shape: there are a few hundred shapes at most (filter
    kinds x sort fields and directions x cursor kinds; a metric's key is a parameter)."""
    filters_shape = filters.shape()
    if filters_shape is None:
        return build()
    key = (filters_shape, *shape)
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = build()
    return found


def page_rows(
    session: Session,
    filters: RunFilters,
    sort: str,
    *,
    limit: int,
    offset: int,
    cursor: str | None,
    matching: int,
) -> PageRows:
    """The page's runs among the ``matching`` runs that meet ``filters``, by ``sort``."""
    after = decode_cursor(cursor, sort) if cursor is not None else None
    params: dict[str, Any] = {**filters.params(), "limit": limit, "offset": offset}
    if after is not None:
        params.update(last_value=after[0], last_id=after[1])
    key = sort.lstrip("-")
    connection = session.connection()
    if key in RUN_FIELDS or key in GAPS:
        return _rows(connection, _expression_page(filters, sort, after), params)
    if after is not None and (isinstance(after[0], bool) or not isinstance(after[0], int | float | None)):
        raise InvalidInput(["query", "cursor"], "Not a cursor this server gave out")
    params["key"] = key
    pages = _SummaryPages(filters, sort.startswith("-"), walk=matching > WALK_FROM)
    if after is not None:
        if after[0] is None:  # already in the tail of runs without the metric
            return _rows(connection, pages.tail_after(), params)
        rows = _rows(connection, pages.with_key_after(), params)
        if len(rows) < limit:
            rows += _rows(connection, pages.tail(), {**params, "limit": limit - len(rows), "offset": 0})
        return rows
    rows = _rows(connection, pages.with_key(), params)
    if len(rows) < limit:
        # How many runs have the metric: known from this page unless the offset is past all of them.
        with_count = (
            offset + len(rows) if rows or not offset else _count(connection, pages.with_key(), params)
        )
        tail = {**params, "limit": limit - len(rows), "offset": max(offset - with_count, 0)}
        rows += _rows(connection, pages.tail(), tail)
    return rows


@dataclass(frozen=True)
class _SummaryPages:
    """A summary sort's statements: runs with the metric by its value (ties: newest first), then the runs
    without it, newest first."""

    filters: RunFilters
    descending: bool
    walk: bool

    def _keep(self, kind: str, build: Callable[[], Select[int, Any]]) -> Select[int, Any]:
        return statement(self.filters, ("summary", kind, self.descending, self.walk), build)

    def _with_key(self) -> Select[int, Any]:
        value, run_id = RunSummary.value, RunSummary.run_id
        with_key = select(run_id, value).where(RunSummary.key == bindparam("key"))
        if self.walk:
            # The same rows as the join below; written as EXISTS, SQLite's planner walks the (key, value)
            # index instead of sorting every matching run (PostgreSQL picks by its statistics either way).
            with_key = with_key.where(exists().where(Run.id == run_id, *self.filters.clauses()))
        else:
            with_key = with_key.join(Run, Run.id == run_id).where(*self.filters.clauses())
        return with_key.order_by(value.desc() if self.descending else value.asc(), run_id.desc()).limit(LIMIT)

    def _without_key(self) -> Select[int, Any]:
        no_metric = ~exists().where(RunSummary.run_id == Run.id, RunSummary.key == bindparam("key"))
        query = select(Run.id, null()).where(*self.filters.clauses(), no_metric)
        return query.order_by(Run.id.desc()).limit(LIMIT)

    def with_key(self) -> Select[int, Any]:
        return self._keep("with_key", lambda: self._with_key().offset(OFFSET))

    def with_key_after(self) -> Select[int, Any]:
        def build() -> Select[int, Any]:
            # value >= v first, so that the database starts its index range at v.
            value, run_id = RunSummary.value, RunSummary.run_id
            reached = value <= LAST_VALUE if self.descending else value >= LAST_VALUE
            beyond = value < LAST_VALUE if self.descending else value > LAST_VALUE
            return self._with_key().where(reached, or_(beyond, run_id < LAST_ID))

        return self._keep("with_key_after", build)

    def tail(self) -> Select[int, Any]:
        return self._keep("tail", lambda: self._without_key().offset(OFFSET))

    def tail_after(self) -> Select[int, Any]:
        return self._keep("tail_after", lambda: self._without_key().where(Run.id < LAST_ID))


def _expression_page(filters: RunFilters, sort: str, after: tuple[Any, int] | None) -> Select[int, Any]:
    """A page sorted by a run field or a bias/variance gap (an expression of each run's summaries)."""
    cursor_kind = None if after is None else "null" if after[0] is None else "value"

    def build() -> Select[int, Any]:
        value, descending, nullable = _sort_key(sort)
        order = value.desc() if descending else value.asc()
        query = select(Run.id, value).where(*filters.clauses()).limit(LIMIT)
        if nullable:
            query = query.order_by(value.is_(None), order, Run.id.desc())
        elif sort.lstrip("-") == "id":
            query = query.order_by(order)
        else:
            query = query.order_by(order, Run.id.desc())
        return query.where(_after(sort, cursor_kind == "null")) if after is not None else query.offset(OFFSET)

    # Keyed by the field and direction, not the text: "---id" sorts as "-id" and must not add statements.
    return statement(filters, ("expression", sort.lstrip("-"), sort.startswith("-"), cursor_kind), build)


def _rows(connection: Any, query: Select[int, Any], params: dict[str, Any]) -> PageRows:
    return [(row[0], row[1]) for row in connection.execute(query, params)]


def _count(connection: Any, query: Select[int, Any], params: dict[str, Any]) -> int:
    counted = select(func.count()).select_from(query.order_by(None).limit(None).offset(None).subquery())
    return int(connection.execute(counted, params).scalar())


def _sort_key(sort: str) -> tuple[ColumnElement[Any], bool, bool]:
    """The sort value of each run as SQL, whether it is descending, and whether it may be NULL."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key in RUN_FIELDS:
        return getattr(Run, key), descending, key in NULLABLE_FIELDS
    value = gap_expression(key)
    if value is None:
        raise ValueError(f"sort must be a run field or a gap here, but got {sort=}")
    return value, descending, True


def _after(sort: str, in_null_tail: bool) -> ColumnElement[bool]:
    """Runs after (LAST_VALUE, LAST_ID) in the order _expression_page gives: the keyset condition."""
    value, descending, nullable = _sort_key(sort)
    if sort.lstrip("-") == "id":
        return Run.id < LAST_ID if descending else Run.id > LAST_ID
    if in_null_tail:  # already in the NULL tail, ordered by id descending
        return and_(value.is_(None), Run.id < LAST_ID)
    beyond = value < LAST_VALUE if descending else value > LAST_VALUE
    conditions = [beyond, and_(value == LAST_VALUE, Run.id < LAST_ID)]
    if nullable:
        conditions.append(value.is_(None))
    return or_(*conditions)


def encode_cursor(sort: str, value: Any, run_id: int) -> str:
    """An opaque cursor naming the last run of a page: its sort key and value, and its id."""
    if isinstance(value, datetime):
        value = {"t": as_utc(value).isoformat()}
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
