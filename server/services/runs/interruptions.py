"""Whether a worker's run was cut off (a restart, a crash) and where it picks up again.

A worker that stops hands its run back (server/services/handback.py) and the reaper re-queues a run whose
worker went silent; both leave the reason in `error` until the next claim. The run page says so instead of
showing a plain "queued" (or, before, "Failed: ..." above a run that was about to carry on)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.services.runs.attempts import epochs_logged
from server.tables import Run


@dataclass(frozen=True)
class Interruption:
    #: Why the last attempt was cut off.
    reason: str
    #: Epochs whose metrics reached the server: waiting, it resumes after them; resumed, they are done.
    epochs_done: int
    #: How many times the run was cut off; `waiting`: no worker has claimed it again yet.
    count: int
    waiting: bool


def interruption(*, session: Session, run: Run) -> Interruption | None:
    """A worker's run that was cut off and is queued to resume, or resumed and still going; else None."""
    if run.external or run.status not in ("queued", "running") or not run.interruptions:
        return None
    reason = run.last_interruption or "its worker stopped"
    done = epochs_logged(session=session, run_id=run.id)
    return Interruption(reason, done, run.interruptions, run.status == "queued")
