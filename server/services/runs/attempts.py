"""A worker's run, attempt by attempt: who trained it, when, how each attempt ended and where it resumed.

An attempt opens when a worker claims the run and closes when it is handed back (a graceful stop), when the
reaper re-queues or fails it (its worker went silent), or when the run finishes or is cancelled. The run
page's history and GET /api/v1/runs/{id}/attempts read these rows."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.schemas import TERMINAL_STATUSES, as_utc
from server.tables import Run, RunAttempt, RunSummary
from server.tables import utcnow as now

#: How an attempt ended, as the run page says it (None: it is still training).
OUTCOMES: dict[str, str] = {
    "handed_back": "handed back on stop",
    "requeued": "worker went silent: re-queued by the reaper",
    "timed_out": "worker went silent: failed after its last attempt",
    "superseded": "claimed again before it ended",
    "succeeded": "succeeded",
    "failed": "failed",
    "diverged": "diverged",
    "cancelled": "cancelled",
}


def epochs_logged(*, session: Session, run_id: int) -> int:
    """The highest step any of the run's metrics reached: the epochs done, for the zoo's workers."""
    done = session.scalar(select(func.max(RunSummary.step)).where(RunSummary.run_id == run_id))
    return int(done or 0)


def open_attempt(*, session: Session, run_id: int, worker: str | None) -> RunAttempt:
    """Record a claim (call after it succeeded); an attempt left open is closed as superseded. No commit."""
    stamp = now()
    close_attempt(session=session, run_id=run_id, outcome="superseded", at=stamp)
    number = session.scalar(select(func.max(RunAttempt.number)).where(RunAttempt.run_id == run_id))
    attempt = RunAttempt(
        run_id=run_id,
        number=(number or 0) + 1,
        worker=worker,
        started_at=stamp,
        resumed_from_epoch=epochs_logged(session=session, run_id=run_id) + 1,
    )
    session.add(attempt)
    return attempt


def close_attempt(
    *, session: Session, run_id: int, outcome: str, reason: str | None = None, at: datetime | None = None
) -> None:
    """End the run's open attempt, if any, with `outcome` (a key of OUTCOMES). No commit."""
    close_attempts(session=session, run_ids=[run_id], outcome=outcome, reason=reason, at=at)


def close_attempts(
    *,
    session: Session,
    run_ids: Collection[int],
    outcome: str,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """End the open attempts of `run_ids` with `outcome`, in one statement. No commit."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, but got {outcome=}")
    if not run_ids:
        return
    session.execute(
        update(RunAttempt)
        .where(RunAttempt.run_id.in_(run_ids), RunAttempt.ended_at.is_(None))
        .values(ended_at=at or now(), outcome=outcome, reason=reason)
    )


def list_attempts(*, session: Session, run_id: int) -> list[RunAttempt]:
    """The run's attempts, first first."""
    return list(
        session.scalars(select(RunAttempt).where(RunAttempt.run_id == run_id).order_by(RunAttempt.number))
    )


@dataclass(frozen=True)
class AttemptView:
    """One row of the run page's attempt history."""

    number: int
    worker: str
    started: str
    ended: str
    #: How it ended, in words (OUTCOMES), or "training" while it runs.
    outcome: str
    reason: str | None
    resumed_from_epoch: int


def _when(value: datetime | None) -> str:
    stamp = as_utc(value)
    return "" if stamp is None else stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def attempt_history(*, session: Session, run: Run) -> list[AttemptView]:
    """The run page's attempt history: shown once a run was claimed twice or cut off, else empty.

    An attempt still open on a finished run (cancelled in bulk, or stopped early by its sweep, without the
    worker's finish) ended with the run: it shows the run's status."""
    rows = list_attempts(session=session, run_id=run.id)
    if len(rows) < 2 and not run.interruptions:
        return []
    views = []
    for attempt in rows:
        outcome = attempt.outcome
        if outcome is None and run.status in TERMINAL_STATUSES:
            outcome = run.status
        views.append(
            AttemptView(
                number=attempt.number,
                worker=attempt.worker or "(unnamed worker)",
                started=_when(attempt.started_at),
                ended=_when(attempt.ended_at or (run.finished_at if outcome else None)),
                outcome=OUTCOMES[outcome] if outcome else "training",
                reason=attempt.reason,
                resumed_from_epoch=attempt.resumed_from_epoch,
            )
        )
    return views
