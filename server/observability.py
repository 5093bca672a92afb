"""Prometheus metrics, served at GET /metrics (names prefixed `trainboard_`).

Counted as things happen, per process: requests by route template, points ingested, reaper passes and what
they re-queued, worker heartbeats. Read from the database at each scrape, so every process answers the same:
runs by status, the queue's length, and what each running run's worker last reported (examples/s, epoch).

With `trainboard serve --workers N` the counters live in files under PROMETHEUS_MULTIPROC_DIR (prometheus-
client's multi-process mode), and a scrape of any process sums those of all of them.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.tables import Run, RunCount

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable, read when it is imported
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter(
    "trainboard_http_requests_total",
    "HTTP requests answered, by route template.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "trainboard_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POINTS_INGESTED = Counter(
    "trainboard_metric_points_ingested_total", "Metric points stored (new or replaced)."
)
REAPER_PASSES = Counter(
    "trainboard_reaper_passes_total", "Passes of the reaper (made by the leading process)."
)
REAPER_REQUEUED = Counter(
    "trainboard_reaper_requeued_total", "Runs the reaper re-queued after a lost worker."
)
REAPER_FAILED = Counter("trainboard_reaper_failed_total", "Runs the reaper failed after max_attempts.")
HEARTBEATS = Counter(
    "trainboard_worker_heartbeats_total", "Progress reports and heartbeats from workers and scripts."
)
HANDED_BACK = Counter(
    "trainboard_runs_handed_back_total", "Runs handed back by workers that stopped gracefully."
)

#: Route templates whose calls are a worker's (or a script's) heartbeat.
HEARTBEAT_ROUTES = frozenset({"/api/v1/runs/{run_id}/progress", "/api/v1/runs/{run_id}/heartbeat"})


def prepare_multiprocess_metrics(home: Path) -> Path:
    """Point prometheus-client of the server processes about to start at a fresh folder (before they import
    it); files of a previous start would add its counts to this one's."""
    folder = home / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)  # the processes uvicorn spawns inherit it
    return folder


class RequestMetricsMiddleware:
    """Counts and times every HTTP request under its route template ("/api/v1/runs/{run_id}"), not its
    path: one series per route, however many runs. Unmatched paths count as "unmatched"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_template(scope)
            key = (scope["method"], route, status)
            series = _series.get(key)
            if series is None:  # .labels() takes a lock and builds a tuple: once per series, not per request
                series = _series.setdefault(
                    key, (LATENCY.labels(*key[:2]), REQUESTS.labels(*key[:2], str(status)))
                )
            series[0].observe(time.perf_counter() - started)
            series[1].inc()
            if route in HEARTBEAT_ROUTES and status < 300:
                HEARTBEATS.inc()


# By id of the route object, kept alive beside its template so that its id is never another route's.
_templates: dict[int, tuple[object, str]] = {}
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def route_template(scope: Scope) -> str:
    """The matched route's full template ("/api/v1/runs/{run_id}"); "unmatched" when no route matched.

    FastAPI keeps an included router's routes with their own path ("/runs/{run_id}"): the prefix is what
    the request's path has before the route's part, the same for every request of that route (each route
    object is included once), so it is worked out at the route's first request."""
    route = scope.get("route")
    path: str | None = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    known = _templates.get(id(route))
    if known is not None:
        return known[1]
    params = scope.get("path_params") or {}
    try:
        own = _PARAMETER.sub(lambda match: str(params[match[1]]), path)
    except KeyError:
        return path
    prefix = scope["path"][: len(scope["path"]) - len(own)] if scope["path"].endswith(own) else ""
    return _templates.setdefault(id(route), (route, prefix + path))[1]


def _runs_by_status(session: Session) -> Metric:
    family = GaugeMetricFamily("trainboard_runs", "Runs by status (archived included).", labels=["status"])
    rows = session.execute(select(RunCount.status, func.sum(RunCount.n)).group_by(RunCount.status))
    counts = {status: int(n or 0) for status, n in rows}
    for status in ("queued", "running", "succeeded", "failed", "diverged", "cancelled"):
        family.add_metric([status], counts.get(status, 0))
    return family


def _running_runs(session: Session) -> Iterable[Metric]:
    speed = GaugeMetricFamily(
        "trainboard_run_examples_per_second",
        "Training speed each running run's worker last reported.",
        labels=["run_id"],
    )
    epoch = GaugeMetricFamily("trainboard_run_epoch", "The epoch each running run is in.", labels=["run_id"])
    rows = session.execute(
        select(Run.id, Run.progress).where(Run.status == "running", Run.external.is_(False))
    )
    for run_id, progress in rows:
        progress = progress or {}
        if isinstance(progress.get("examples_per_sec"), int | float):
            speed.add_metric([str(run_id)], float(progress["examples_per_sec"]))
        if isinstance(progress.get("epoch"), int | float):
            epoch.add_metric([str(run_id)], float(progress["epoch"]))
    return speed, epoch


def render(session: Session) -> bytes:
    """The exposition text: this process's counters (all processes' in multi-process mode) and the
    database's gauges."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
        text = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        text = generate_latest(REGISTRY)
    runs = _runs_by_status(session)
    queue = GaugeMetricFamily("trainboard_queue_length", "Runs waiting for a worker.")
    queue.add_metric([], next(s.value for s in runs.samples if s.labels["status"] == "queued"))
    gauges = CollectorRegistry()
    gauges.register(_Fixed([runs, queue, *_running_runs(session)]))
    return text + generate_latest(gauges)


class _Fixed:
    """A collector of metric families computed beforehand (one scrape's database reads)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families
