"""A worker that stops gracefully (SIGTERM, Ctrl+C, a restart) hands its running run back.

Without this, the run stayed "running" with a dead worker until the reaper's heartbeat timeout (about 100 s
with the defaults); handed back, it is queued again at once and the next worker resumes it from its
checkpoint. The reason stays in the run's `error` while it waits (the next claim clears it).
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.orm import Session

from server.errors import Conflict
from server.queue import RunQueue
from server.schemas import RunRelease
from server.services.runs import enqueue_run, get_run
from server.services.runs.attempts import close_attempt
from server.tables import Run

logger = logging.getLogger(__name__)


def release_run(*, session: Session, run_id: int, data: RunRelease, queue: RunQueue) -> Run:
    """Re-queue a running run that the worker `data.worker` still holds, and send it to the broker.

    A compare-and-set on (status, worker): a run cancelled meanwhile, or taken over by another worker, is a
    Conflict and stays as it is. The attempt it used is given back too: `max_attempts` counts crashes, and a
    run handed back on every restart of its worker must not end up failed for it.
    """
    run = get_run(session=session, run_id=run_id)
    handed_back = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running", Run.worker == data.worker, Run.external.is_(False))
        .values(
            status="queued",
            progress=None,
            enqueued_at=None,
            heartbeat_at=None,
            attempt=Run.attempt - 1,
            error=f"handed back by {data.worker}: {data.reason}"[:500],
            interruptions=Run.interruptions + 1,
            last_interruption=f"handed back by {data.worker}: {data.reason}"[:500],
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
    if handed_back == 1:
        close_attempt(session=session, run_id=run_id, outcome="handed_back", reason=data.reason[:500])
    session.commit()
    session.refresh(run)
    if handed_back != 1:
        holder = f" on {run.worker}" if run.status == "running" else ""
        raise Conflict(f"Run {run_id} is {run.status}{holder}: {data.worker} cannot hand it back")
    logger.info("run %d handed back by %s (%s): queued again", run_id, data.worker, data.reason)
    enqueue_run(session=session, run=run, queue=queue)
    return run
