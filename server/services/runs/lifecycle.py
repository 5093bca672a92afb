"""A run's lifecycle: created (queued for a worker, or external), claimed, reporting, finished or cancelled;
a sweep's trial that ends makes its sweep queue the next."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput, NotFound
from server.queue import RunQueue
from server.schemas import (
    TERMINAL_STATUSES,
    RunCreate,
    RunFinish,
    RunProgress,
    RunStart,
    as_utc,
)
from server.services import idempotency, sweeps
from server.services.checkpoint_files import checkpoint_path
from server.services.idempotency import ScopedKey
from server.services.run_setup import dataset_version, enqueue_run, resolve_config
from server.services.runs.attempts import close_attempt, open_attempt
from server.tables import Project, Run, RunSummary
from server.tables import utcnow as now


def get_run(*, session: Session, run_id: int) -> Run:
    """The run or NotFound."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound("Run", run_id)
    return run


def _run_with_key(session: Session, key: ScopedKey, project_id: int) -> Run | None:
    """The run an earlier POST of this caller with this Idempotency-Key created, or None."""
    run = session.scalar(select(Run).where(idempotency.matches(Run, key)))
    if run is not None and run.project_id != project_id:
        raise Conflict(f"Idempotency-Key {key.key!r} was already used for a run in another project")
    return run


def create_run(
    *,
    session: Session,
    data: RunCreate,
    queue: RunQueue,
    idempotency_key: ScopedKey | None = None,
    commit: bool = True,
) -> Run:
    """Record a run; a worker-trained one is queued after the commit, an external one starts running.

    A POST retried by the same caller with the same key (its reply was lost) returns the first's run.
    With ``commit=False`` the run is only flushed: the caller records several in one transaction, commits
    and then calls ``queue_recorded`` for each.
    """
    if idempotency_key is not None and (earlier := _run_with_key(session, idempotency_key, data.project_id)):
        return earlier
    project = session.get(Project, data.project_id)
    if project is None:
        raise InvalidInput(["body", "project_id"], f"Project {data.project_id} not found")
    if data.parent_id is not None and session.get(Run, data.parent_id) is None:
        raise InvalidInput(["body", "parent_id"], f"Run {data.parent_id} not found")
    run = Run(
        project_id=project.id,
        parent_id=data.parent_id,
        name=data.name or "",
        params=data.params,
        group=data.group,
        tags=data.tags,
        notes=data.notes,
        environment=data.environment,
        idempotency_scope=idempotency_key.scope if idempotency_key else None,
        idempotency_key=idempotency_key.key if idempotency_key else None,
    )
    if data.external:
        run.external, run.status, run.started_at, run.heartbeat_at = True, "running", now(), now()
        run.config = data.config.model_dump(exclude_unset=True)
    else:
        # Record the dataset version (label corrections applied) that the worker trains and evaluates on.
        resolved = resolve_config(project=project, config=data.config)
        run.config = {**resolved, "dataset_version": dataset_version(project=project, config=data.config)}
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        # Only the idempotency key is unique here: the same POST, retried, won the race and committed first.
        session.rollback()
        earlier = _run_with_key(session, idempotency_key, project.id) if idempotency_key else None
        if earlier is None:
            raise
        return earlier
    if not run.name:
        run.name = f"run-{run.id}"
    if not commit:
        return run
    session.commit()
    queue_recorded(session=session, run=run, queue=queue)
    return run


def queue_recorded(*, session: Session, run: Run, queue: RunQueue) -> None:
    """After the commit that recorded the run: queue it for the workers (an external run is not queued)."""
    # Ids repeat when a database is recreated over a kept data folder: never resume from another run.
    checkpoint_path(run.id).unlink(missing_ok=True)
    if not run.external:
        enqueue_run(session=session, run=run, queue=queue)


def _is_alive(run: Run, heartbeat_timeout_s: float) -> bool:
    beat = as_utc(run.heartbeat_at)
    return beat is not None and (now() - beat).total_seconds() < heartbeat_timeout_s


def _refuse_claim(run: Run, data: RunStart, heartbeat_timeout_s: float) -> None:
    """Conflict when the run has finished, or another worker holds it and still reports."""
    if run.status in TERMINAL_STATUSES:
        raise Conflict(f"Run {run.id} is already {run.status}")
    if (
        run.status == "running"
        and _is_alive(run, heartbeat_timeout_s)
        and run.worker != (data.worker or None)
        and not (data.replaces and run.worker == data.replaces)
    ):
        # A duplicate delivery while another worker still trains it: training it twice would mix two series.
        raise Conflict(f"Run {run.id} is already running on {run.worker}")


def start_run(*, session: Session, run_id: int, data: RunStart, heartbeat_timeout_s: float = 120.0) -> Run:
    """A worker claims the run (again, after a crash: it resumes from its checkpoint).

    The claim is a compare-and-set on (status, attempt), so of two deliveries of one run that race (the
    reaper re-sent a message the broker had not lost after all), exactly one trains it.
    """
    run = get_run(session=session, run_id=run_id)
    _refuse_claim(run, data, heartbeat_timeout_s)
    stamp = now()
    # The worker that trains it says what with (a resumed run may land on another machine: the latest wins).
    environment = {} if data.environment is None else {"environment": data.environment}
    claim = (
        update(Run)
        .where(Run.id == run_id, Run.status == run.status, Run.attempt == run.attempt)
        .values(
            status="running",
            worker=data.worker or None,
            attempt=Run.attempt + 1,
            started_at=func.coalesce(Run.started_at, stamp),
            heartbeat_at=stamp,
            error=None,
            **environment,
        )
        .execution_options(synchronize_session=False)
    )
    claimed = session.execute(claim).rowcount  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult
    if claimed == 1:
        open_attempt(session=session, run_id=run_id, worker=data.worker or None)
    session.commit()
    session.refresh(run)
    if claimed != 1:
        _refuse_claim(run, data, heartbeat_timeout_s)
        raise Conflict(f"Run {run_id} was claimed by another worker at the same moment")
    return run


def report_progress(*, session: Session, run_id: int, data: RunProgress) -> str:
    """Record progress and the heartbeat; returns the status so the worker sees a cancel."""
    run = get_run(session=session, run_id=run_id)
    if run.status == "running":
        run.progress = data.model_dump(exclude_none=True)
        run.heartbeat_at = now()
        session.commit()
    return run.status


def heartbeat(*, session: Session, run_id: int) -> str:
    """Note that a running run's process is alive; returns the status (a cancel shows up here)."""
    run = get_run(session=session, run_id=run_id)
    if run.status == "running":
        run.heartbeat_at = now()
        session.commit()
    return run.status


def resume_run(*, session: Session, run_id: int) -> tuple[Run, int | None]:
    """Reopen an external run for its script (`trainboard.init(resume=...)`): a finished one runs again.

    Returns the run and the highest step it has logged, so the script's next step continues after it."""
    run = get_run(session=session, run_id=run_id)
    if not run.external:
        raise Conflict(f"Run {run_id} is trained by a worker: only a run your own script logs can be resumed")
    if run.sweep_id is not None and run.status in TERMINAL_STATUSES:
        raise Conflict(f"Run {run_id} is a finished sweep trial: its sweep has counted it already")
    if run.status in TERMINAL_STATUSES:
        run.status, run.error, run.finished_at, run.stopped_early = "running", None, None, False
    run.heartbeat_at = now()
    session.commit()
    last_step = session.scalar(select(func.max(RunSummary.step)).where(RunSummary.run_id == run_id))
    return run, last_step


def finish_run(*, session: Session, run_id: int, data: RunFinish, queue: RunQueue) -> Run:
    """Mark the run finished with its final status and, when it did not succeed, the reason; a sweep's
    trial makes room for the next."""
    run = get_run(session=session, run_id=run_id)
    if run.status in TERMINAL_STATUSES:
        if run.status != data.status:
            raise Conflict(f"Run {run_id} is already {run.status}")
        if data.log_tail and not run.log_tail:
            # The script's client library failed the run first; its agent adds what the command printed.
            run.log_tail = data.log_tail
            session.commit()
    else:
        run.status = data.status
        run.error = _one_line(data.error) if data.status != "succeeded" else None
        if run.status in ("failed", "diverged") and not run.error:
            run.error = "the run stopped without giving a reason"
        run.log_tail = data.log_tail or None
        run.finished_at = now()
        close_attempt(
            session=session, run_id=run.id, outcome=run.status, reason=run.error, at=run.finished_at
        )
        session.commit()
    # Also after a retried finish (a no-op for the run): the first may have ended before the sweep moved.
    _end_trial(session, run, queue)
    return run


def cancel_run(*, session: Session, run_id: int, queue: RunQueue) -> Run:
    """Cancel a queued or running run (a running one stops at the worker's next progress report); a
    sweep's trial makes room for the next."""
    run = get_run(session=session, run_id=run_id)
    if run.status in TERMINAL_STATUSES:
        raise Conflict(f"Run {run_id} is already {run.status}")
    run.status = "cancelled"
    run.finished_at = now()
    close_attempt(session=session, run_id=run.id, outcome="cancelled", at=run.finished_at)
    session.commit()
    _end_trial(session, run, queue)
    return run


def _end_trial(session: Session, run: Run, queue: RunQueue) -> None:
    """When a sweep's trial has ended, its sweep queues the next trials (the page and the API alike)."""
    if run.sweep_id is not None:
        sweeps.advance_after_trial(session=session, run_id=run.id, queue=queue)


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    line = " ".join(text.split())
    return line[:500]
