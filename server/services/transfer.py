"""Transfer learning at submit time: is the source run one this run can start from, and which runs started
from a given one (the run page links both ways).

The worker does the weight surgery (worker/transfer.py); here the server refuses, before anything is queued,
a source that could not work: one without a checkpoint, one still training, one whose inputs have another
shape, or one whose architecture differs (no layer would match by name and shape).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.config import RunConfig
from server.datasets import get_dataset
from server.errors import InvalidInput
from server.services.checkpoint_files import checkpoint_path
from server.tables import Project, Run

FIELD = ["body", "config", "transfer", "from_run_id"]
TRAINING = ("queued", "running")


def source_model(
    *, session: Session, config: RunConfig, input_shape: tuple[int, ...]
) -> dict[str, Any] | None:
    """The model config a transferred run builds: the source's, with any option `config.model` sets over it
    (a layer whose shape then differs starts fresh); None without transfer. InvalidInput names the reason
    when the source cannot be used."""
    if config.transfer is None:
        return None
    source_id = config.transfer.from_run_id
    source = session.get(Run, source_id)
    if source is None:
        raise InvalidInput(FIELD, f"Run {source_id} not found")
    if source.external:
        raise InvalidInput(
            FIELD, f"Run {source_id} was trained by a script: it has no checkpoint to start from"
        )
    if source.status in TRAINING:
        raise InvalidInput(FIELD, f"Run {source_id} is still {source.status}: wait until it has finished")
    if not checkpoint_path(source.id).exists():
        raise InvalidInput(FIELD, f"Run {source_id} has no checkpoint to start from ({source.status})")
    project = session.get(Project, source.project_id)
    dataset = None if project is None else get_dataset(project.dataset, session=session)
    if dataset is None:
        raise InvalidInput(FIELD, f"Run {source_id}'s dataset is gone: its input shape is unknown")
    if tuple(dataset.input_shape) != tuple(input_shape):
        raise InvalidInput(
            FIELD,
            f"Run {source_id} was trained on inputs of shape {list(dataset.input_shape)}, but this "
            f"project's are {list(input_shape)}: transfer needs the same input",
        )
    model: dict[str, Any] = dict((source.config or {}).get("model") or {})
    wanted = config.model.get("name")
    if wanted is not None and wanted != model.get("name"):
        raise InvalidInput(
            ["body", "config", "model", "name"],
            f"Run {source_id} trained a {model.get('name')}, but this run asks for a {wanted}: "
            "a transferred run keeps the source's architecture",
        )
    return {**model, **config.model}


def fine_tuned_from(*, session: Session, run_id: int) -> list[Run]:
    """Runs that started from `run_id`'s weights, oldest first."""
    source = Run.config["transfer"]["from_run_id"].as_integer()
    return list(session.scalars(select(Run).where(source == run_id).order_by(Run.id)))
