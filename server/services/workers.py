"""Workers announce themselves (POST /api/v1/workers/heartbeat); the server counts the live ones' slots.

A worker knows only the broker and the server, so this is the one place that knows how many runs can train
at once: the sweep page, the run form and the project page say "N of M worker slots free" from it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.schemas import WorkerHeartbeat, WorkerRead, WorkerSlots, WorkersRead
from server.tables import Worker
from server.tables import utcnow as now
from server.worker_slots import count_slots

#: Rows of workers gone this long are deleted at the next announcement (live ones are seconds old).
FORGET_AFTER = timedelta(days=1)


def record_heartbeat(*, session: Session, data: WorkerHeartbeat, at: datetime | None = None) -> Worker:
    """Store the worker's announcement (the first one registers it) and forget long-gone workers."""
    at = at or now()
    session.execute(delete(Worker).where(Worker.last_seen_at < at - FORGET_AFTER))
    worker = session.get(Worker, data.id)
    if worker is None:
        worker = Worker(id=data.id, started_at=at)
        session.add(worker)
    worker.hostname, worker.concurrency, worker.device = data.hostname, data.concurrency, data.device
    worker.active_runs, worker.last_seen_at = data.active_runs, at
    try:
        session.commit()
    except IntegrityError:  # its previous announcement, retried, registered it first
        session.rollback()
        return record_heartbeat(session=session, data=data, at=at)
    return worker


def forget_worker(*, session: Session, worker_id: str) -> None:
    """A worker that stops says goodbye: its slots stop counting at once, not after the timeout."""
    session.execute(delete(Worker).where(Worker.id == worker_id))
    session.commit()


def live_workers(*, session: Session, timeout_s: float, at: datetime | None = None) -> list[Worker]:
    """Workers that announced themselves within `timeout_s` of `at` (now), by host then id."""
    cutoff = (at or now()) - timedelta(seconds=timeout_s)
    query = select(Worker).where(Worker.last_seen_at >= cutoff).order_by(Worker.hostname, Worker.id)
    return list(session.scalars(query))


def read_workers(*, session: Session, timeout_s: float, at: datetime | None = None) -> WorkersRead:
    """The live workers and their slots."""
    workers = live_workers(session=session, timeout_s=timeout_s, at=at)
    return WorkersRead(
        data=[WorkerRead.model_validate(worker) for worker in workers],
        count=len(workers),
        slots=count_slots((worker.concurrency, worker.active_runs) for worker in workers),
    )


def free_slots(*, session: Session, timeout_s: float, at: datetime | None = None) -> WorkerSlots:
    """The live workers' slots: how many exist and how many are free."""
    workers = live_workers(session=session, timeout_s=timeout_s, at=at)
    return count_slots((worker.concurrency, worker.active_runs) for worker in workers)
