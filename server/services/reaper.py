"""Crash recovery with the database as the source of truth: no run stays 'running' or unsent forever."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.queue import RunQueue
from server.services.runs import now
from server.tables import Run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReapResult:
    requeued: list[int]
    failed: list[int]
    resent: list[int]


def reap_stale_runs(
    *,
    session: Session,
    queue: RunQueue,
    heartbeat_timeout_s: float,
    max_attempts: int,
    at: datetime | None = None,
) -> ReapResult:
    """Re-queue runs whose worker stopped reporting (or fail them after max_attempts); re-send unsent runs."""
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
            failed.append(run.id)
        else:
            run.status, run.progress, run.enqueued_at = "queued", None, None
            requeued.append(run.id)
    session.commit()
    resent = []
    unsent = session.scalars(select(Run).where(Run.status == "queued", Run.enqueued_at.is_(None))).all()
    for run in unsent:
        if queue.enqueue(run.id):
            run.enqueued_at = now()
            resent.append(run.id)
    session.commit()
    if requeued or failed or resent:
        logger.info("reaper: requeued %s, failed %s, resent %s", requeued, failed, resent)
    return ReapResult(requeued=requeued, failed=failed, resent=[r for r in resent if r not in requeued])
