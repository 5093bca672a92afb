"""Seed groups: a project's groups with per-metric mean and spread, and "repeat a run with N seeds"."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.deps import IdPath, Limit, Offset, QueueDep
from server.auth import ApiAuth
from server.db import SessionDep
from server.schemas import GroupsPage, RunRepeat, RunsRepeated
from server.services import groups, runs

router = APIRouter(tags=["groups"])


@router.get("/projects/{project_id}/groups")
def read_groups(
    project_id: IdPath, session: SessionDep, _: ApiAuth, limit: Limit = 50, offset: Offset = 0
) -> GroupsPage:
    """The project's groups, newest first: their runs and, per metric, mean, sample std and n."""
    return groups.list_groups(session=session, project_id=project_id, limit=limit, offset=offset)


@router.post("/runs/{run_id}/repeat", status_code=201)
def repeat_run(
    run_id: IdPath, session: SessionDep, queue: QueueDep, _: ApiAuth, data: RunRepeat | None = None
) -> RunsRepeated:
    """Queue copies of the run that differ only in hparams.seed, all in the run's group; a run of your own
    script gets a script sweep of them instead (`sweep_id`), for trainboard agent."""
    repeated = groups.repeat_run(
        session=session, run_id=run_id, seeds=(data or RunRepeat()).seeds, queue=queue
    )
    return RunsRepeated(
        group=repeated.group,
        runs=[runs.to_read(child) for child in repeated.runs],
        sweep_id=repeated.sweep.id if repeated.sweep is not None else None,
    )
