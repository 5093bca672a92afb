"""create_app(): routers, error handlers, static files and the background reaper."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from server import observability
from server.access import ApiAccess
from server.api import metrics as metrics_api
from server.api.mlflow.mount import include_mlflow
from server.api.v1 import accounts as accounts_api
from server.api.v1 import artifacts as artifacts_api
from server.api.v1 import datasets as datasets_api
from server.api.v1 import error_analysis as error_analysis_api
from server.api.v1 import experiments as experiments_api
from server.api.v1 import exports as exports_api
from server.api.v1 import gradcheck as gradcheck_api
from server.api.v1 import groups as groups_api
from server.api.v1 import metric_series as metric_series_api
from server.api.v1 import projects as projects_api
from server.api.v1 import runs as runs_api
from server.api.v1 import sweeps as sweeps_api
from server.api.v1 import system as system_api
from server.api.v1 import workers as workers_api
from server.body_guard import BodyGuardMiddleware
from server.db import get_engine, get_sessionmaker
from server.errors import install_error_handlers
from server.leader import Leadership
from server.pages import docs as docs_pages
from server.pages import router as pages_router
from server.queue import get_queue
from server.security import RequestOriginMiddleware, SecurityHeadersMiddleware
from server.services.reaper import reap_stale_runs
from server.services.sweeps import advance_all as advance_all_sweeps
from server.throttle import LoginThrottle
from trainboard.files import keep_private
from trainboard.settings import get_settings

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _background_duties(session: Session) -> None:
    """One pass of the reaper and the sweeps' advance (by the leading process only)."""
    settings = get_settings()
    result = reap_stale_runs(
        session=session,
        queue=get_queue(),
        heartbeat_timeout_s=settings.heartbeat_timeout_s,
        max_attempts=settings.max_attempts,
        requeue_after_s=settings.requeue_after_s,
        external_timeout_s=settings.external_timeout_s,
    )
    advance_all_sweeps(session=session, queue=get_queue())
    observability.REAPER_PASSES.inc()
    observability.REAPER_REQUEUED.inc(len(result.requeued))
    observability.REAPER_FAILED.inc(len(result.failed))


def _reaper_loop(stop: threading.Event) -> None:
    settings = get_settings()
    interval = settings.reaper_interval_s
    # A lease outlives a missed pass or two; only SQLite uses it (PostgreSQL: an advisory lock).
    leadership = Leadership(get_engine(), lease_s=3 * interval)
    try:
        while not stop.wait(interval):
            try:
                if not leadership.hold():
                    continue
                with get_sessionmaker()() as session:
                    _background_duties(session)
            except Exception:
                logger.exception("reaper pass failed; trying again in %s s", interval)
    finally:
        leadership.release()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=_reaper_loop, args=(stop,), name="trainboard-reaper", daemon=True)
    if app.state.run_reaper:
        thread.start()
    yield
    stop.set()
    if thread.is_alive():
        thread.join(timeout=5)  # so that it gives the lead up before the process ends


def create_app(*, run_reaper: bool = True) -> FastAPI:
    """The Trainboard web app: JSON API under /api/v1, pages everywhere else."""
    keep_private()  # the database, uploads, checkpoints and the cookie key are created 0600
    app = FastAPI(
        title="Trainboard",
        version="0.1.0",
        description="Experiment tracker: bias/variance diagnosis, error analysis and hyperparameter search.",
        lifespan=_lifespan,
        # Served by server/pages/docs.py instead, behind the login.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.run_reaper = run_reaper
    app.state.login_throttle = LoginThrottle()  # per process: README, "Accounts"
    install_error_handlers(app)
    app.add_middleware(BodyGuardMiddleware)  # bodies bounded, and anonymous ones refused, before reading
    app.add_middleware(RequestOriginMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # wraps the refusals too
    app.add_middleware(observability.RequestMetricsMiddleware)  # outermost: counts and times them all
    app.include_router(system_api.router, prefix="/api/v1")  # health: the one call that needs no token
    for module in (
        projects_api,
        runs_api,
        artifacts_api,
        experiments_api,
        groups_api,
        datasets_api,
        gradcheck_api,
        error_analysis_api,
        sweeps_api,
        accounts_api,
        metric_series_api,
        exports_api,
        workers_api,
    ):
        # Every id in the URL is checked against the caller's projects before the handler runs.
        app.include_router(module.router, prefix="/api/v1", dependencies=[ApiAccess])
    app.include_router(metrics_api.router)  # /metrics, for Prometheus
    # MLflow's tracking API: its own error shape, access checked per id inside (ids are MLflow's strings).
    include_mlflow(app)
    app.include_router(docs_pages.schema_router)
    app.include_router(docs_pages.router)
    app.include_router(pages_router)
    app.mount(docs_pages.ASSETS_URL, StaticFiles(directory=docs_pages.ASSETS_DIR), name="apidocs")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
