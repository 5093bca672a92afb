"""Downloads: the runs table as CSV (GET /runs.csv) and one series with its timestamps (CSV or JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from server import access
from server.api.deps import IdPath
from server.api.downloads import attachment
from server.api.v1.runs import FilterQuery, NameSearch
from server.auth import ApiAuth
from server.db import ReadSessionDep
from server.schemas import MAX_ID, MetricKey, RunStatus
from server.services import exports, runs

router = APIRouter(tags=["exports"])


@router.get("/runs.csv", response_class=Response)
def export_runs(
    session: ReadSessionDep,
    principal: ApiAuth,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: RunStatus | None = None,
    q: FilterQuery = None,
    search: NameSearch = None,
    archived: bool = False,
) -> Response:
    """One row a run (newest first, at most 10,000; X-Total-Count says how many matched): its fields, params
    and summary metrics as columns; a cell that a spreadsheet would run as a formula starts with a quote."""
    filters = runs.run_filters(
        session=session,
        project_id=project_id,
        status=status,
        visible=access.visible_project_ids(principal),
        archived=archived,
        q=q,
        search=search,
    )
    text, total = exports.runs_table(session, filters)
    name = f"runs-project-{project_id}.csv" if project_id is not None else "runs.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={**attachment(name), "X-Total-Count": str(total)},
    )


@router.get("/runs/{run_id}/series.{fmt}", response_class=StreamingResponse)
def export_series(
    run_id: IdPath,
    fmt: Literal["csv", "json"],
    session: ReadSessionDep,
    _: ApiAuth,
    key: Annotated[MetricKey, Query(description="The metric key.")],
) -> StreamingResponse:
    """Every point of one series, in step order, with its timestamp: CSV (step,value,timestamp) or JSON
    ({"run_id", "key", "points": [{"step", "value", "timestamp"}]})."""
    body = exports.series_export(session, run_id, key, fmt)
    first = next(body)  # the run is checked (404) before the response starts
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return StreamingResponse(
        _chain(first, body),
        media_type=media,
        headers=attachment(f"run-{run_id}-{key}.{fmt}"),
    )


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
