"""What a run needs before a worker takes it: its config filled with the dataset's and the model's defaults
and checked against the data, the dataset version it trains on, and its message on the workers' queue.

Below both the runs package and sweeps (which builds its trials with these), so that neither imports the
other's way round: the runs' finish and cancel advance a sweep."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, object_session

import models
from models.config import precision_refusal
from server.datasets import get_dataset
from server.errors import InvalidInput
from server.queue import RunQueue
from server.schemas import Hparams, RunConfig
from server.services.transfer import source_model
from server.tables import Project, Run, utcnow
from trainboard.settings import get_settings


def resolve_config(*, project: Project, config: RunConfig) -> dict[str, Any]:
    """Fill every default (the dataset's, then the model's) and refuse a config that does not fit the data."""
    dataset = get_dataset(project.dataset, session=object_session(project))
    if dataset is None:
        raise InvalidInput(
            ["body", "external"],
            f"Project {project.name!r} has no built-in dataset ({project.dataset!r}): its runs are trained "
            "by your own script, so create them with external: true",
        )
    given = config.hparams.model_dump(include=config.hparams.model_fields_set)
    hparams = Hparams.model_validate({**dataset.default_hparams, **given})
    # Workers read the same TRAINBOARD_DEVICE: when it names a device that cannot train this precision,
    # the submit is refused now; with "auto" only the worker knows, and it fails the run saying why.
    if refusal := precision_refusal(hparams.precision, get_settings().device):
        raise InvalidInput(["body", "config", "hparams", "precision"], refusal)
    session = object_session(project)
    inherited = (
        None
        if session is None
        else source_model(session=session, config=config, input_shape=dataset.input_shape)
    )
    try:
        model = models.resolve_model_config(
            config.model if inherited is None else inherited,
            kind=dataset.kind,
            input_shape=dataset.input_shape,
            n_classes=dataset.n_classes,
        )
    except models.ModelConfigError as exc:
        raise InvalidInput(["body", "config", *exc.field.split(".")], exc.message) from exc
    if config.task is not None and config.task not in dataset.tasks:
        known = (
            f"has the tasks {', '.join(dataset.tasks)}" if dataset.tasks else "is not a multi-task dataset"
        )
        raise InvalidInput(["body", "config", "task"], f"The dataset {known}, but got task={config.task!r}")
    resolved: dict[str, Any] = {"model": model, "hparams": hparams.model_dump()}
    if config.task is not None:
        resolved["task"] = config.task
    if config.transfer is not None:
        resolved["transfer"] = config.transfer.model_dump()
    return resolved


def dataset_version(*, project: Project, config: RunConfig) -> int:
    """The dataset version a run trains on: the one its config names, else the project's current one."""
    if config.dataset_version is not None and config.dataset_version > project.dataset_version:
        raise InvalidInput(
            ["body", "config", "dataset_version"],
            f"Project {project.name!r} has dataset versions 1 to {project.dataset_version}, "
            f"but got {config.dataset_version}",
        )
    return config.dataset_version or project.dataset_version


def enqueue_run(*, session: Session, run: Run, queue: RunQueue) -> None:
    """Send the run to the broker; if the broker is down, the reaper retries later."""
    if queue.enqueue(run.id):
        run.enqueued_at = utcnow()
        session.commit()
