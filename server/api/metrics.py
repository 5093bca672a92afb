"""GET /metrics: Prometheus's text format, for monitoring (outside /api/v1, where scrapers look)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from server import observability
from server.auth import UNAUTHENTICATED, may_read_metrics
from server.db import SessionDep
from server.errors import Unauthorized

router = APIRouter(tags=["system"])


@router.get("/metrics", include_in_schema=False)
def read_metrics(request: Request, session: SessionDep) -> Response:
    """Request counts and latencies by route, points ingested, runs by status, queue length, reaper passes,
    worker heartbeats and each running run's speed; with auth on, for the metrics token, workers, admins."""
    if not may_read_metrics(request, session):
        raise Unauthorized(UNAUTHENTICATED)
    return Response(observability.render(session), media_type=observability.CONTENT_TYPE)
