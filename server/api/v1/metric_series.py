"""Chart series of several runs at once (the compare page): `GET /api/v1/metrics?run_ids=...&keys=...`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from server.auth import ApiAuth
from server.db import SessionDep
from server.errors import InvalidInput
from server.schemas import RunsMetricSeriesList, Text
from server.services import comparisons
from server.services.metrics import series as series_reads

router = APIRouter(tags=["runs"])


@router.get("/metrics", response_model=RunsMetricSeriesList)
def read_runs_metrics(
    session: SessionDep,
    _: ApiAuth,
    run_ids: Annotated[list[Text], Query(description="Run ids, comma-separated: 1,2,3.")],
    keys: series_reads.KeysQuery,
    max_points: series_reads.MaxPointsQuery = None,
    after_step: series_reads.AfterStepQuery = None,
) -> Response:
    """The series `keys` of each of `run_ids` (every run checked against the caller's projects before this
    runs, as `run_ids` is one of server.access.QUERY_IDS); a run or key without points is left out."""
    ids = comparisons.run_ids_in(run_ids, field="run_ids")
    if not ids:
        raise InvalidInput(["query", "run_ids"], "run_ids: name at least one run, such as 1,2")
    wanted = series_reads.parse_keys(keys or [])
    series_reads.check_request_size(len(ids) * len(wanted), max_points)
    series_reads.check_runs_exist(session.connection(), ids)
    found = series_reads.read_many(
        session.connection(), [(r, k) for r in ids for k in wanted], max_points, after_step=after_step
    )
    return Response(series_reads.series_json(found, with_run_ids=True), media_type="application/json")
