"""Crash recovery with the database as the source of truth: no run stays 'running' or unsent forever.

A run the broker lost (Redis restarted without persistence, a worker died between taking the message and
claiming the run) is sent again: the worker's claim is atomic, so a message that was not lost after all
only makes a duplicate that the worker drops.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from server.queue import RunQueue
from server.services.runs import now
from server.services.runs.attempts import close_attempt
from server.tables import Run

logger = logging.getLogger(__name__)

#: How long the reaper waits before it looks at the broker again to confirm that a run's message is lost.
LOST_RECHECK_S = 0.25


@dataclass(frozen=True)
class ReapResult:
    requeued: list[int]
    failed: list[int]
    resent: list[int]
    lost: list[int] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)


def reap_stale_runs(
    *,
    session: Session,
    queue: RunQueue,
    heartbeat_timeout_s: float,
    max_attempts: int,
    requeue_after_s: float = 60.0,
    external_timeout_s: float | None = None,
    at: datetime | None = None,
) -> ReapResult:
    """Re-queue runs whose worker stopped reporting (or fail them after max_attempts); re-send unsent runs
    and runs queued for `requeue_after_s` whose message the broker no longer holds."""
    at = at or now()
    cutoff = at - timedelta(seconds=heartbeat_timeout_s)
    stale = session.scalars(
        select(Run).where(
            Run.status == "running",
            Run.external.is_(False),
            or_(Run.heartbeat_at < cutoff, Run.heartbeat_at.is_(None)),
        )
    ).all()
    requeued, failed = [], []
    for run in stale:
        if run.attempt >= max_attempts:
            run.status, run.finished_at = "failed", at
            run.error = (
                f"the worker stopped reporting (no heartbeat for {heartbeat_timeout_s:.0f} s) "
                f"on each of {run.attempt} attempts; check the worker's log"
            )
            close_attempt(session=session, run_id=run.id, outcome="timed_out", reason=run.error, at=at)
            failed.append(run.id)
        else:
            run.status, run.progress, run.enqueued_at = "queued", None, None
            # Shown on the run page until the next claim clears it: "interrupted, resuming from epoch N".
            silent = f"no heartbeat for {heartbeat_timeout_s:.0f} s"
            run.error = f"its worker {run.worker or '(unknown)'} stopped reporting ({silent})"
            run.interruptions, run.last_interruption = (run.interruptions or 0) + 1, run.error
            close_attempt(session=session, run_id=run.id, outcome="requeued", reason=silent, at=at)
            requeued.append(run.id)
    session.commit()
    resent = []
    unsent = session.scalars(select(Run).where(Run.status == "queued", Run.enqueued_at.is_(None))).all()
    for run in unsent:
        if queue.enqueue(run.id):
            run.enqueued_at = now()
            resent.append(run.id)
    session.commit()
    lost = resend_lost_runs(session=session, queue=queue, older_than=at - timedelta(seconds=requeue_after_s))
    if requeued or failed or resent or lost:
        logger.info(
            "reaper: requeued %s, failed %s, resent %s, lost by the broker %s", requeued, failed, resent, lost
        )
    abandoned = (
        fail_abandoned_external_runs(session=session, timeout_s=external_timeout_s, at=at)
        if external_timeout_s
        else []
    )
    return ReapResult(
        requeued=requeued,
        failed=failed,
        resent=[r for r in resent if r not in requeued],
        lost=lost,
        abandoned=abandoned,
    )


def fail_abandoned_external_runs(*, session: Session, timeout_s: float, at: datetime) -> list[int]:
    """Fail external runs whose script has sent nothing (no points, no heartbeat) for `timeout_s`.

    The client library beats every 30 s while its process lives, and every metrics batch counts too, so
    silence this long means the script was killed (SIGKILL skips its exit hook) or cannot reach us."""
    cutoff = at - timedelta(seconds=timeout_s)
    last_sign = func.coalesce(Run.heartbeat_at, Run.started_at, Run.created_at)
    silent = session.scalars(
        select(Run).where(Run.status == "running", Run.external.is_(True), last_sign < cutoff)
    ).all()
    for run in silent:
        run.status, run.finished_at = "failed", at
        run.error = (
            f"the script stopped reporting (no metrics or heartbeat for {timeout_s / 60:.0f} min): it was "
            "killed or lost the server; its last logged points are kept"
        )
    session.commit()
    if silent:
        logger.info("reaper: failed external runs %s whose scripts went silent", [run.id for run in silent])
    return [run.id for run in silent]


def resend_lost_runs(*, session: Session, queue: RunQueue, older_than: datetime) -> list[int]:
    """Send again the runs sent before `older_than` that are still queued but that the broker no longer holds.

    A broker we cannot inspect (down, or a kind that keeps no readable list) is trusted to hold them all.
    """
    waiting = session.scalars(
        select(Run).where(Run.status == "queued", Run.enqueued_at < older_than).order_by(Run.id)
    ).all()
    if not waiting:
        return []
    held = queue.held_run_ids()
    if held is None:
        return []
    missing = [run.id for run in waiting if run.id not in held]
    if not missing:
        return []
    # A message a worker is taking at this instant is in neither of the places the broker is read from
    # (Redis: between its BRPOP and its entry among the unacknowledged), and its run is not claimed yet: look
    # again a moment later, at the broker and then at the runs (in a new transaction, so the claims made
    # meanwhile show), before calling it lost. Without this a busy worker's run was sometimes sent twice.
    session.commit()
    time.sleep(LOST_RECHECK_S)
    held = queue.held_run_ids()
    if held is None:
        return []
    lost = []
    for run in session.scalars(
        select(Run).where(Run.id.in_(missing), Run.status == "queued").order_by(Run.id)
    ):
        if run.id not in held and queue.enqueue(run.id):
            run.enqueued_at = now()
            lost.append(run.id)
    session.commit()
    return lost
