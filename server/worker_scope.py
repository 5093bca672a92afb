"""What a worker token may do: exactly what a training worker needs, and nothing that manages anything.

A worker reads a run's config, claims it (and hands it back when it stops), reports progress, heartbeats,
metrics, predictions and checkpoints, finishes it, reads the project's label corrections, fetches the
uploaded dataset of a run or gradient check that is waiting or training, runs gradient checks, announces its
own slots (POST /workers/heartbeat, DELETE /workers/{id}), and may read GET /metrics (a scraper can use a
worker token). Every other route (pages included) refuses a worker token with 403, so a new route is closed
to workers until it is named here.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from server.errors import Forbidden
from server.services import gradcheck as gradchecks
from server.tables import Project, Run

#: The handlers a worker token may call, as module.function (tests/server/test_worker_scope.py checks
#: that each names a real route).
WORKER_ENDPOINTS = frozenset(
    {
        "server.api.v1.accounts.read_me",
        "server.api.v1.runs.read_run",
        "server.api.v1.runs.start_run",
        "server.api.v1.runs.release_run",
        "server.api.v1.runs.report_progress",
        "server.api.v1.runs.heartbeat",
        "server.api.v1.runs.log_metrics",
        "server.api.v1.runs.log_predictions",
        "server.api.v1.runs.save_checkpoint",
        "server.api.v1.runs.read_checkpoint",
        "server.api.v1.runs.finish_run",
        "server.api.v1.error_analysis.read_label_corrections",
        "server.api.v1.datasets.read_dataset",
        "server.api.v1.datasets.read_dataset_file",
        "server.api.v1.gradcheck.read_gradcheck",
        "server.api.v1.gradcheck.record_gradcheck_result",
        # Each worker process announces its slots, and says goodbye when it stops.
        "server.api.v1.workers.record_worker_heartbeat",
        "server.api.v1.workers.forget_worker",
        # Monitoring: a worker token may scrape GET /metrics (server.auth.may_read_metrics decides).
        "server.api.metrics.read_metrics",
    }
)
TRAINING = ("queued", "running")


def endpoint_name_of(endpoint: Callable[..., object]) -> str:
    """A route handler as `module.function`, the form WORKER_ENDPOINTS names it in."""
    return f"{endpoint.__module__}.{endpoint.__qualname__}"


def check_worker_route(request: Request) -> None:
    """403 unless the request was routed to a handler a worker needs."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    if endpoint is None or endpoint_name_of(endpoint) not in WORKER_ENDPOINTS:
        raise Forbidden(
            "A worker token only trains runs (config, start, progress, metrics, predictions, checkpoints, "
            "finish) and gradient checks; use a user's token for anything else"
        )


def dataset_in_training(session: Session, dataset_id: int) -> bool:
    """True when a queued or running run, or a queued gradient check, trains on this uploaded dataset."""
    ref = str(dataset_id)
    in_runs = session.scalar(
        select(
            exists()
            .where(Run.project_id == Project.id, Project.dataset == ref, Run.status.in_(TRAINING))
            .select_from(Run)
        )
    )
    return bool(in_runs) or ref in gradchecks.queued_datasets(session=session)


def check_worker_dataset(session: Session, dataset_id: int) -> None:
    """A worker fetches an uploaded dataset only while some run or gradient check waits for it or trains."""
    if not dataset_in_training(session, dataset_id):
        raise Forbidden(f"Dataset {dataset_id} is not used by a queued or running run or gradient check")
