"""The reaper re-sends queued runs whose message the broker lost, and only those; and a claim is atomic.

A fake broker here: tests/server/test_queue_inspection.py reads real ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from server.errors import Conflict
from server.schemas import RunStart
from server.services.reaper import reap_stale_runs
from server.services.runs import start_run
from server.tables import Run
from tests.factories import make_project, make_run


class InspectableQueue:
    """A broker that holds the messages of `held` (None: a broker that cannot be inspected)."""

    def __init__(self, held: set[int] | None) -> None:
        self.held, self.sent = held, []  # type: ignore[var-annotated]

    def enqueue(self, run_id: int) -> bool:
        self.sent.append(run_id)
        return True

    def ping(self) -> bool:
        return True

    def held_run_ids(self) -> set[int] | None:
        return None if self.held is None else set(self.held)


def reap(session: Session, queue: InspectableQueue, at: datetime) -> list[int]:
    result = reap_stale_runs(
        session=session, queue=queue, heartbeat_timeout_s=120, max_attempts=3, requeue_after_s=60, at=at
    )
    return result.lost


def test_queued_runs_the_broker_lost_are_sent_again_once(session: Session) -> None:
    project = make_project(session)
    at = datetime.now(UTC)
    long_ago = at - timedelta(seconds=300)
    lost = make_run(session, project, status="queued", enqueued_at=long_ago)
    held = make_run(session, project, status="queued", enqueued_at=long_ago)
    just_sent = make_run(session, project, status="queued", enqueued_at=at - timedelta(seconds=5))
    make_run(session, project, status="running", enqueued_at=long_ago, heartbeat_at=at)
    queue = InspectableQueue(held={held.id})

    assert reap(session, queue, at) == [lost.id]
    assert queue.sent == [lost.id]
    session.refresh(lost)
    assert lost.status == "queued" and lost.enqueued_at is not None
    # Sent again just now: the next pass leaves it alone even though the broker has not answered for it yet.
    assert reap(session, queue, at) == []
    assert queue.sent == [lost.id] and just_sent.id not in queue.sent


class BrokerMidTake(InspectableQueue):
    """A broker read twice: the first time, the messages of `taking` are between the queue and a worker
    (in neither place the broker is read from); the second time they are among the unacknowledged, and
    `claim` has been claimed meanwhile."""

    def __init__(self, held: set[int], taking: set[int], claim: Run, session: Session) -> None:
        super().__init__(held)
        self.taking, self.claim, self.session, self.reads = taking, claim, session, 0

    def held_run_ids(self) -> set[int] | None:
        self.reads += 1
        if self.reads == 1:
            return set(self.held or ())
        self.session.execute(update(Run).where(Run.id == self.claim.id).values(status="running"))
        return set(self.held or ()) | self.taking


def test_a_message_a_worker_is_taking_is_not_called_lost(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("server.services.reaper.LOST_RECHECK_S", 0.0)
    project = make_project(session)
    at = datetime.now(UTC)
    long_ago = at - timedelta(seconds=300)
    taken = make_run(session, project, status="queued", enqueued_at=long_ago)
    claimed = make_run(session, project, status="queued", enqueued_at=long_ago)
    lost = make_run(session, project, status="queued", enqueued_at=long_ago)
    queue = BrokerMidTake(held=set(), taking={taken.id}, claim=claimed, session=session)

    assert reap(session, queue, at) == [lost.id]  # neither the message in flight nor the run just claimed
    assert queue.sent == [lost.id] and queue.reads == 2


def test_a_broker_that_cannot_be_inspected_is_trusted(session: Session) -> None:
    project = make_project(session)
    at = datetime.now(UTC)
    make_run(session, project, status="queued", enqueued_at=at - timedelta(hours=3))
    queue = InspectableQueue(held=None)
    assert reap(session, queue, at) == []
    assert queue.sent == []


def test_a_claim_that_loses_the_race_is_refused(session: Session) -> None:
    """Two deliveries of one run read it queued at the same moment: only the first write claims it."""
    run = make_run(session, make_project(session), status="queued", attempt=0)
    assert session.get(Run, run.id) is run  # this session still believes the run is queued
    other_claim = (
        update(Run)
        .where(Run.id == run.id)
        .values(status="running", worker="host-b:2", attempt=1, heartbeat_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    session.execute(other_claim)
    session.commit()
    assert run.status == "queued"

    with pytest.raises(Conflict, match=f"Run {run.id} is already running on host-b:2"):
        start_run(session=session, run_id=run.id, data=RunStart(worker="host-a:1"))
    session.refresh(run)
    assert (run.status, run.worker, run.attempt) == ("running", "host-b:2", 1)


def test_a_claim_takes_a_queued_run_and_counts_the_attempt(session: Session) -> None:
    run = make_run(session, make_project(session), status="queued", attempt=0)
    claimed = start_run(session=session, run_id=run.id, data=RunStart(worker="host-a:1"))
    assert (claimed.status, claimed.worker, claimed.attempt) == ("running", "host-a:1", 1)
    assert claimed.started_at is not None and claimed.heartbeat_at is not None
