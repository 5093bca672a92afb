"""Run lists: a page of runs filtered and sorted (which runs: pages), read as RunReads or, for the API,
written straight to the RunsPage's JSON (columns)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from server.schemas import RunRead, RunsPage
from server.services.runs.columns import (
    RUN_JSON_ROWS,
    RUN_JSON_ROWS_WITH_SUMMARY,
    RUN_ROWS,
    SUMMARY_ROWS,
    run_json,
    stored_json,
)
from server.services.runs.filtering import filter_clause
from server.services.runs.pages import PageRows, RunFilters, encode_cursor, page_rows, statement
from server.tables import Run, RunCount

#: The ids of the projects a caller may see (None: every project).
Visible = Select[int] | None


def _summaries(
    connection: Connection, ids: dict[str, list[int]], found: Iterable[int]
) -> dict[int, dict[str, float]]:
    """Each found run's summary (key -> latest value), read in one query for the whole page."""
    summaries: dict[int, dict[str, float]] = {run_id: {} for run_id in found}
    for run_id, key, value in connection.execute(SUMMARY_ROWS, ids).all():
        summaries[run_id][key] = value
    return summaries


def read_runs(*, session: Session, run_ids: list[int]) -> list[RunRead]:
    """The runs in the order given, read with one query for the runs and one for their summaries.

    Core rows, not ORM objects: a page of 50 loads in about 1.5 ms instead of 7."""
    if not run_ids:
        return []
    connection = session.connection()
    ids = {"run_ids": run_ids}
    by_id = {row.id: row._mapping for row in connection.execute(RUN_ROWS, ids).all()}
    summaries = _summaries(connection, ids, by_id)
    return [RunRead(**by_id[run_id], summary=summaries[run_id]) for run_id in run_ids if run_id in by_id]


def _count(session: Session, filters: RunFilters) -> int:
    """How many runs meet the filters, summed from the per-(project, status) counts that triggers keep
    (run_counts: counting 10,000 runs took longer than finding the page), less the archived runs among
    them (few, found by their index), on the session's connection (the ORM's execute path cost more than
    the query). Archived lists and filter expressions count the matching runs themselves."""
    connection = session.connection()
    if filters.archived or filters.where is not None:
        counted = select(func.count()).select_from(Run).where(*filters.clauses())
        return int(connection.execute(counted, filters.params()).scalar_one())

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

    def build_archived() -> Select[Any]:
        return select(func.count()).select_from(Run).where(*replace(filters, archived=True).clauses())

    count = statement(filters, ("count",), build)
    archived = statement(filters, ("count_archived",), build_archived)
    params = filters.params()
    every = int(connection.execute(count, params).scalar_one())
    return every - int(connection.execute(archived, params).scalar_one())


def run_filters(
    *,
    session: Session,
    project_id: int | None,
    status: str | None,
    visible: Visible = None,
    archived: bool = False,
    q: str | None = None,
    search: str | None = None,
) -> RunFilters:
    """The filters of a run list: ``q`` a filter expression (InvalidInput saying where it broke), ``search``
    a part of the name (any case)."""
    clauses = []
    if q is not None and q.strip():
        clauses.append(filter_clause(q, session.connection().dialect.name))
    if search is not None and search.strip():
        clauses.append(func.lower(Run.name).contains(search.strip().lower(), autoescape=True))
    where = and_(*clauses) if clauses else None
    return RunFilters(project_id, status, visible, archived, where)


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
    visible: Select[int] | None = None,
    archived: bool = False,
    q: str | None = None,
    search: str | None = None,
) -> RunsPage:
    """A page of runs, filtered and sorted by a field or a summary metric.

    Pages by offset, or by keyset with ``cursor`` (the ``next_cursor`` of the previous page): a cursor
    page starts right after the last run the previous one showed, so runs added meanwhile never make a
    run appear twice or be skipped."""
    total, rows, next_cursor = _page(
        session,
        run_filters(
            session=session,
            project_id=project_id,
            status=status,
            visible=visible,
            archived=archived,
            q=q,
            search=search,
        ),
        sort,
        limit,
        offset,
        cursor,
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
    visible: Select[int] | None = None,
    archived: bool = False,
    q: str | None = None,
    search: str | None = None,
) -> bytes:
    """The same page as ``list_runs``, as the JSON of its ``RunsPage``, built without the models.

    The API's run list spent most of its time turning rows into 50 validated ``RunRead``s and those back
    into JSON: decoding each run's config and params, parsing and re-checking every field the database
    already holds typed. Here the rows go straight to JSON (tests/server/api/test_run_list_json.py holds
    it equal to ``RunsPage.model_dump_json`` of the same runs)."""
    total, rows, next_cursor = _page(
        session,
        run_filters(
            session=session,
            project_id=project_id,
            status=status,
            visible=visible,
            archived=archived,
            q=q,
            search=search,
        ),
        sort,
        limit,
        offset,
        cursor,
    )
    head = to_json({"total": total, "limit": limit, "offset": offset})[:-1]
    items = b",".join(_runs_json(session, [run_id for run_id, _ in rows]))
    return b'%s,"items":[%s],"next_cursor":%s}' % (head, items, to_json(next_cursor))


def _runs_json(session: Session, run_ids: list[int]) -> list[bytes]:
    """Each run's ``RunRead`` JSON, in the order given (runs deleted meanwhile left out)."""
    if not run_ids:
        return []
    connection = session.connection()
    ids = {"run_ids": run_ids}
    summaries: dict[int, bytes] = {}
    if connection.dialect.name == "postgresql":
        by_id = {row[0]: row for row in connection.execute(RUN_JSON_ROWS_WITH_SUMMARY, ids).all()}
        summaries = {run_id: stored_json(row[-1] or "{}") for run_id, row in by_id.items()}
    else:
        by_id = {row[0]: row for row in connection.execute(RUN_JSON_ROWS, ids).all()}
        for run_id, summary in _summaries(connection, ids, by_id).items():
            summaries[run_id] = to_json(summary, inf_nan_mode="null")
    return [run_json(by_id[run_id], summaries[run_id]) for run_id in run_ids if run_id in by_id]
