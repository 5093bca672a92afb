"""Workers: each worker process announces itself; the live ones and their free slots."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from server.access import WorkerCaller
from server.auth import ApiAuth
from server.db import SessionDep
from server.schemas import NoNul, WorkerHeartbeat, WorkerRead, WorkersRead
from server.services import workers
from trainboard.settings import get_settings

router = APIRouter(prefix="/workers", tags=["workers"])

WorkerId = Annotated[str, Path(min_length=1, max_length=200), NoNul]


@router.post("/heartbeat")
def record_worker_heartbeat(data: WorkerHeartbeat, session: SessionDep, _: WorkerCaller) -> WorkerRead:
    """A worker process is alive, with its slots (concurrency) and the runs it trains now."""
    return WorkerRead.model_validate(workers.record_heartbeat(session=session, data=data))


@router.get("")
def read_workers(session: SessionDep, _: ApiAuth) -> WorkersRead:
    """The workers seen within TRAINBOARD_WORKER_TIMEOUT_S, and how many of their slots are free."""
    return workers.read_workers(session=session, timeout_s=get_settings().worker_timeout_s)


@router.delete("/{worker_id}", status_code=204)
def forget_worker(worker_id: WorkerId, session: SessionDep, _: WorkerCaller) -> Response:
    """A worker that stops says goodbye: its slots stop counting at once."""
    workers.forget_worker(session=session, worker_id=worker_id)
    return Response(status_code=204)
