"""Gradient checks: queued for a worker (the web process never imports torch), kept as small JSON records."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

import models
from server.datasets import DatasetInfo, get_dataset
from server.errors import InvalidInput, NotFound, TrainboardError
from server.files import replacing
from server.schemas import GradcheckCreate, GradcheckRead, GradcheckResult
from server.tables import Project
from trainboard.settings import get_settings

logger = logging.getLogger(__name__)
GRADCHECK_TASK = "worker.tasks.gradcheck"
#: The deep-learning course's reading of a relative difference (upper bounds, checked in order).
READINGS = ((1e-7, "great"), (1e-5, "fine"), (1e-3, "suspicious: check again"))
BUG = "a bug in the backward pass"
NOT_CHECKED = "not checked: every entry tried had a kink inside its step"


class BrokerDown(TrainboardError):
    status_code = 503


class GradcheckQueue(Protocol):
    def send(self, check_id: str) -> bool: ...


class CeleryGradcheckQueue:
    def send(self, check_id: str) -> bool:
        from worker.celery_app import app

        try:
            app.send_task(GRADCHECK_TASK, args=[check_id], queue="gpu", retry=True)
        except Exception as exc:  # the broker's client raises many kinds; all mean "not sent"
            logger.warning("could not queue gradient check %s: %s", check_id, exc)
            return False
        return True


def get_gradcheck_queue() -> GradcheckQueue:
    return CeleryGradcheckQueue()


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


def _path(check_id: str) -> Path:
    try:
        ident = uuid.UUID(check_id).hex  # only hex reaches the file system
    except ValueError:
        raise NotFound("Gradient check", check_id) from None
    return get_settings().resolved_home / "gradchecks" / f"{ident}.json"


def _write(check: GradcheckRead) -> None:
    with replacing(_path(check.id)) as out:
        out.write(check.model_dump_json().encode())


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
    return name, info


def create_gradcheck(
    *, session: Session, data: GradcheckCreate, queue: GradcheckQueue, owner_id: int | None = None
) -> GradcheckRead:
    """Validate the model config for the dataset, record the check and queue it for a worker."""
    name, info = _dataset_of(session, data)
    try:
        model = models.resolve_model_config(
            data.config.model, kind=info.kind, input_shape=info.input_shape, n_classes=info.n_classes
        )
    except models.ModelConfigError as exc:
        raise InvalidInput(["body", "config", *exc.field.split(".")], exc.message) from exc
    check = GradcheckRead(
        id=str(uuid.uuid4()),
        status="queued",
        dataset=name,
        config={"model": model, "hparams": {"seed": data.config.hparams.seed}},
        batch_size=data.batch_size,
        created_at=datetime.now(UTC),
        owner_id=owner_id,
    )
    _write(check)
    if not queue.send(check.id):
        raise BrokerDown("The broker is not reachable: the gradient check was not queued")
    return check


def queued_datasets() -> set[str]:
    """The datasets of the checks still waiting for a worker (which may download them)."""
    folder = get_settings().resolved_home / "gradchecks"
    found = set()
    for path in folder.glob("*.json") if folder.is_dir() else ():
        try:
            check = GradcheckRead.model_validate_json(path.read_text())
        except (OSError, ValueError):
            continue  # removed or half-written meanwhile
        if check.status == "queued":
            found.add(check.dataset)
    return found


def get_gradcheck(*, check_id: str) -> GradcheckRead:
    """The check (queued, done or failed) or NotFound."""
    path = _path(check_id)
    if not path.exists():
        raise NotFound("Gradient check", check_id)
    return GradcheckRead.model_validate(json.loads(path.read_text()))


def record_result(*, check_id: str, data: GradcheckResult) -> GradcheckRead:
    """The worker's result, with the reading of each relative difference and of the worst one."""
    check = get_gradcheck(check_id=check_id)
    if data.error:
        check.status, check.error = "failed", " ".join(data.error.split())[:500]
    else:
        check.status = "done"
        check.parameters = [
            p.model_copy(update={"reading": reading(p.relative_difference)}) for p in data.parameters
        ]
        differences = [p.relative_difference for p in data.parameters if p.relative_difference is not None]
        worst = max(differences, default=None if data.parameters else 0.0)
        check.max_relative_difference, check.reading = worst, reading(worst)
        check.measured = measured(data)
    _write(check)
    return check
