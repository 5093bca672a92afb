"""Gradient checks: a row per check, queued for a worker (the web process never imports torch), which runs
it and posts the result back through the API."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import models
from server.datasets import DatasetInfo, get_dataset
from server.errors import DomainError, InvalidInput, NotFound
from server.queue import RunQueue
from server.schemas import GradcheckCreate, GradcheckParameter, GradcheckRead, GradcheckResult
from server.tables import GradientCheck, Project

logger = logging.getLogger(__name__)
#: The deep-learning course's reading of a relative difference (upper bounds, checked in order).
READINGS = ((1e-7, "great"), (1e-5, "fine"), (1e-3, "suspicious: check again"))
BUG = "a bug in the backward pass"
NOT_CHECKED = "not checked: every entry tried had a kink inside its step"


class BrokerDown(DomainError):
    status_code = 503


def reading(relative_difference: float | None) -> str:
    """What a relative difference means: around 1e-7 is right, above 1e-3 is a bug."""
    if relative_difference is None:
        return NOT_CHECKED
    for bound, meaning in READINGS:
        if relative_difference < bound:
            return meaning
    return BUG


def measured(data: GradcheckResult) -> str | None:
    """What the check compared and what it left out: "Checked 480 of 21,386 parameters; skipped 3 ..."."""
    if any(p.checked is None or p.size is None for p in data.parameters):
        return None  # a worker from before kinks were detected
    checked = sum(p.checked or 0 for p in data.parameters)
    size = sum(p.size or 0 for p in data.parameters)
    skipped = sum(p.skipped or 0 for p in data.parameters)
    text = f"Checked {checked:,} of {size:,} parameters"
    if not skipped:
        return text + "; none skipped: no step crossed a ReLU or max-pool kink."
    step = f"±{data.epsilon:g} " if data.epsilon else ""
    return (
        f"{text}; skipped {skipped:,} whose {step}step crossed a ReLU or max-pool kink (there a difference "
        "quotient averages two slopes, so it is no derivative to compare with)."
    )


def _key(check_id: str) -> str:
    """The check's id as stored (any spelling of a uuid finds it); NotFound for anything else."""
    try:
        return str(uuid.UUID(check_id))
    except ValueError:
        raise NotFound("Gradient check", check_id) from None


def _read(check: GradientCheck) -> GradcheckRead:
    return GradcheckRead(
        id=check.id,
        status=check.status,  # the service writes only queued, done or failed
        dataset=check.dataset,
        config=check.config,
        batch_size=check.batch_size,
        parameters=[GradcheckParameter.model_validate(p) for p in check.parameters],
        max_relative_difference=check.max_relative_difference,
        reading=check.reading,
        measured=check.measured,
        error=check.error,
        created_at=check.created_at,
        owner_id=check.owner_id,
    )


def _dataset_of(session: Session, data: GradcheckCreate) -> tuple[str, DatasetInfo]:
    if data.project_id is not None:
        project = session.get(Project, data.project_id)
        if project is None:
            raise InvalidInput(["body", "project_id"], f"Project {data.project_id} not found")
        name, field = project.dataset, "project_id"
    else:
        name, field = str(data.dataset), "dataset"
    info = get_dataset(name, session=session)
    if info is None:
        raise InvalidInput(["body", field], f"Dataset {name!r} has no data a worker can load")
    if info.tasks:
        # The check compares backprop with a softmax cross-entropy on one class label per example.
        raise InvalidInput(
            ["body", field],
            f"Gradient checks are for single-label datasets, but {name!r} is a multi-task dataset "
            f"({', '.join(info.tasks)})",
        )
    return name, info


def create_gradcheck(
    *, session: Session, data: GradcheckCreate, queue: RunQueue, owner_id: int | None = None
) -> GradcheckRead:
    """Validate the model config for the dataset, record the check and queue it for a worker."""
    name, info = _dataset_of(session, data)
    try:
        model = models.resolve_model_config(
            data.config.model, kind=info.kind, input_shape=info.input_shape, n_classes=info.n_classes
        )
    except models.ModelConfigError as exc:
        raise InvalidInput(["body", "config", *exc.field.split(".")], exc.message) from exc
    check = GradientCheck(
        id=str(uuid.uuid4()),
        status="queued",
        dataset=name,
        config={"model": model, "hparams": {"seed": data.config.hparams.seed}},
        batch_size=data.batch_size,
        parameters=[],
        created_at=datetime.now(UTC),
        owner_id=owner_id,
    )
    session.add(check)
    session.commit()  # before sending: the worker reads the check by id through the API
    if not queue.enqueue_gradcheck(check.id):
        check.status, check.error = "failed", "The broker was not reachable: the check was not queued"
        session.commit()  # no worker will run it: neither wait for it nor let workers fetch its dataset
        raise BrokerDown("The broker is not reachable: the gradient check was not queued")
    return _read(check)


def queued_datasets(*, session: Session) -> set[str]:
    """The datasets of the checks still waiting for a worker (which may download them)."""
    return set(session.scalars(select(GradientCheck.dataset).where(GradientCheck.status == "queued")))


def _get(session: Session, check_id: str) -> GradientCheck:
    check = session.get(GradientCheck, _key(check_id))
    if check is None:
        raise NotFound("Gradient check", check_id)
    return check


def get_gradcheck(*, session: Session, check_id: str) -> GradcheckRead:
    """The check (queued, done or failed) or NotFound."""
    return _read(_get(session, check_id))


def record_result(*, session: Session, check_id: str, data: GradcheckResult) -> GradcheckRead:
    """The worker's result, with the reading of each relative difference and of the worst one."""
    check = _get(session, check_id)
    if data.error:
        check.status, check.error = "failed", " ".join(data.error.split())[:500]
    else:
        check.status = "done"
        check.parameters = [
            p.model_copy(update={"reading": reading(p.relative_difference)}).model_dump()
            for p in data.parameters
        ]
        differences = [p.relative_difference for p in data.parameters if p.relative_difference is not None]
        worst = max(differences, default=None if data.parameters else 0.0)
        check.max_relative_difference, check.reading = worst, reading(worst)
        check.measured = measured(data)
    session.commit()
    return _read(check)
