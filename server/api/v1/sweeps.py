"""Sweeps: start a hyperparameter search, follow it, pause, resume or cancel it, and zoom in on its best."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from server import access
from server.api.deps import IdempotencyKey, IdPath, Limit, Offset, QueueDep
from server.auth import ApiAuth
from server.db import SessionDep
from server.schemas import (
    MAX_ID,
    RunRead,
    SweepCreate,
    SweepPreview,
    SweepPreviewIn,
    SweepRead,
    SweepsPage,
    SweepZoom,
)
from server.services import runs, sweep_agents, sweep_results, sweeps

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


@router.post("", status_code=201)
def create_sweep(data: SweepCreate, session: SessionDep, queue: QueueDep, principal: ApiAuth) -> SweepRead:
    """Validate the search space and queue the first `parallelism` trials."""
    access.check_body_project(session, principal, data.project_id, access.EDITOR)
    access.check_config_runs(session, principal, data.base_config, "base_config")
    sweep = sweeps.create_sweep(session=session, data=data, queue=queue)
    return sweep_results.read_sweep(session=session, sweep_id=sweep.id)


@router.get("")
def read_sweeps(
    session: SessionDep,
    principal: ApiAuth,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SweepsPage:
    """Sweeps, newest first, with their progress."""
    return sweep_results.list_sweeps(
        session=session,
        project_id=project_id,
        limit=limit,
        offset=offset,
        visible=access.visible_project_ids(principal),
    )


@router.post("/preview")
def preview_distribution(data: SweepPreviewIn, _: ApiAuth) -> SweepPreview:
    """Seeded draws from one distribution, to show the form's user where the samples fall."""
    return sweep_results.preview_distribution(distribution=data.distribution, n=data.n, seed=data.seed)


@router.get("/{sweep_id}")
def read_sweep(sweep_id: IdPath, session: SessionDep, _: ApiAuth) -> SweepRead:
    """The sweep's trials, progress, best trial (meeting every satisficing constraint) and importance."""
    return sweep_results.read_sweep(session=session, sweep_id=sweep_id)


@router.post(
    "/{sweep_id}/next",
    status_code=201,
    response_model=RunRead,
    responses={204: {"description": "No trial is left to hand out (budget reached, sweep not running)."}},
)
def next_trial(
    sweep_id: IdPath, session: SessionDep, _: ApiAuth, idempotency_key: IdempotencyKey = None
) -> RunRead | Response:
    """A script sweep's next trial for `trainboard agent`: an external run whose params hold the sampled
    values; 204 when none is left, 409 for a sweep of built-in models."""
    run = sweep_agents.next_trial(session=session, sweep_id=sweep_id, idempotency_key=idempotency_key)
    if run is None:
        return Response(status_code=204)
    return runs.to_read(run)


@router.post("/{sweep_id}/pause")
def pause_sweep(sweep_id: IdPath, session: SessionDep, _: ApiAuth) -> SweepRead:
    """Queue no more trials; running ones finish."""
    sweeps.pause_sweep(session=session, sweep_id=sweep_id)
    return sweep_results.read_sweep(session=session, sweep_id=sweep_id)


@router.post("/{sweep_id}/resume")
def resume_sweep(sweep_id: IdPath, session: SessionDep, queue: QueueDep, _: ApiAuth) -> SweepRead:
    """Queue trials again."""
    sweeps.resume_sweep(session=session, sweep_id=sweep_id, queue=queue)
    return sweep_results.read_sweep(session=session, sweep_id=sweep_id)


@router.post("/{sweep_id}/cancel")
def cancel_sweep(sweep_id: IdPath, session: SessionDep, _: ApiAuth) -> SweepRead:
    """Cancel the sweep and its queued and running trials."""
    sweeps.cancel_sweep(session=session, sweep_id=sweep_id)
    return sweep_results.read_sweep(session=session, sweep_id=sweep_id)


@router.post("/{sweep_id}/zoom", status_code=201)
def zoom_sweep(
    sweep_id: IdPath, data: SweepZoom, session: SessionDep, queue: QueueDep, _: ApiAuth
) -> SweepRead:
    """Coarse to fine: a new sweep whose ranges shrink around this one's best trials."""
    sweep = sweep_results.zoom_sweep(session=session, sweep_id=sweep_id, data=data, queue=queue)
    return sweep_results.read_sweep(session=session, sweep_id=sweep.id)
