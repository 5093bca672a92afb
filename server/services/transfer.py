"""Transfer learning at submit time: is the source run one this run can start from, and which runs started
from a given one (the run page links both ways).

The worker does the weight surgery (worker/transfer.py); here the server refuses, before anything is queued,
a source that could not work: one without a checkpoint, one still training, one whose inputs have another
shape, or one whose architecture differs (no layer would match by name and shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from models.config import RunConfig
from server.datasets import DatasetInfo, get_dataset
from server.diagnosis import Recommendation
from server.errors import InvalidInput
from server.services.checkpoint_files import checkpoint_path
from server.tables import Project, Run
from trainboard.datasets import DEFAULT_FRACTIONS, SPLIT_FRACTIONS

FIELD = ["body", "config", "transfer", "from_run_id"]
TRAINING = ("queued", "running")
TRAINABLE_TEXT = {"head": "the output layer only", "all": "every layer"}


@dataclass(frozen=True)
class RunLink:
    """A run named on another run's page."""

    id: int
    name: str
    project_id: int
    project_name: str
    dataset: str


@dataclass(frozen=True)
class ProjectChoice:
    id: int
    name: str
    dataset: str


@dataclass(frozen=True)
class Lineage:
    """Where a run's weights came from and which runs started from its weights (as far as the caller
    sees), and the projects it could be fine-tuned on (same input shape, another project)."""

    source_id: int | None = None
    source: RunLink | None = None  # None when the source is gone or hidden from the caller
    trainable: str = ""
    fine_tuned: list[RunLink] = field(default_factory=list)
    targets: list[ProjectChoice] = field(default_factory=list)


def trainable_text(trainable: object) -> str:
    """What a transferred run trains, in words."""
    if isinstance(trainable, int):
        return f"the last {trainable} weight layer{'s' if trainable != 1 else ''}"
    return TRAINABLE_TEXT.get(str(trainable), str(trainable))


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


def _link(session: Session, run: Run) -> RunLink:
    project = session.get(Project, run.project_id)
    return RunLink(
        run.id, run.name, run.project_id, project.name if project else "", project.dataset if project else ""
    )


def lineage(*, session: Session, run: Run, visible: Select[int] | None) -> Lineage:
    """The run page's "Weights" facts; `visible` (None: everything) limits which projects show."""
    shown = None if visible is None else set(session.scalars(visible))
    transfer = (run.config or {}).get("transfer") or {}
    source_id = transfer.get("from_run_id")
    source = session.get(Run, source_id) if isinstance(source_id, int) else None
    if source is not None and shown is not None and source.project_id not in shown:
        source = None
    children = [
        _link(session, child)
        for child in fine_tuned_from(session=session, run_id=run.id)
        if shown is None or child.project_id in shown
    ]
    return Lineage(
        source_id=source_id if isinstance(source_id, int) else None,
        source=_link(session, source) if source is not None else None,
        trainable=trainable_text(transfer.get("trainable", "head")) if transfer else "",
        fine_tuned=children,
        targets=_targets(session, run, shown),
    )


def _targets(session: Session, run: Run, shown: set[int] | None) -> list[ProjectChoice]:
    """Other projects whose inputs have this run's shape, when the run has weights to start from."""
    if run.external or run.status in TRAINING or not checkpoint_path(run.id).exists():
        return []
    own = session.get(Project, run.project_id)
    dataset = None if own is None else get_dataset(own.dataset, session=session)
    if dataset is None:
        return []
    query = select(Project).where(Project.id != run.project_id).order_by(Project.id.desc())
    choices = []
    for project in session.scalars(query):
        if shown is not None and project.id not in shown:
            continue
        info = get_dataset(project.dataset, session=session)
        if info is not None and tuple(info.input_shape) == tuple(dataset.input_shape):
            choices.append(ProjectChoice(project.id, project.name, project.dataset))
    return choices


def _train_examples(dataset: DatasetInfo) -> int:
    """The training split's size of a dataset, as trainboard/datasets.py cuts it."""
    return round(SPLIT_FRACTIONS.get(dataset.name, DEFAULT_FRACTIONS)[0] * dataset.n_examples)


def fine_tune_advice(*, session: Session, run: Run, visible: Select[int] | None) -> Recommendation | None:
    """For data mismatch with a small training set: "fine-tune from a model trained on the larger set",
    when the caller's workspace has one (a finished run with a checkpoint, on inputs of the same shape,
    trained on at least twice as many examples); the newest such run. None otherwise."""
    own = session.get(Project, run.project_id)
    dataset = None if own is None or run.external else get_dataset(own.dataset, session=session)
    if dataset is None or (run.config or {}).get("transfer"):
        return None
    shown = None if visible is None else set(session.scalars(visible))
    larger: dict[int, tuple[Project, int]] = {}
    for project in session.scalars(select(Project).where(Project.id != run.project_id)):
        info = get_dataset(project.dataset, session=session)
        if (shown is None or project.id in shown) and info is not None:
            if tuple(info.input_shape) == tuple(dataset.input_shape):
                if _train_examples(info) >= 2 * _train_examples(dataset):
                    larger[project.id] = (project, _train_examples(info))
    if not larger:
        return None
    query = (
        select(Run)
        .where(Run.project_id.in_(larger), Run.status == "succeeded", Run.external.is_(False))
        .order_by(Run.id.desc())
        .limit(50)
    )
    source = next((r for r in session.scalars(query) if checkpoint_path(r.id).exists()), None)
    if source is None:
        return None
    project, examples = larger[source.project_id]
    return Recommendation(
        gap="data_mismatch",
        text=f"Fine-tune from a model trained on the larger set: run #{source.id} ({source.name}) learned "
        f"on {examples:,} {project.dataset} examples against this run's {_train_examples(dataset):,}; "
        "start from its weights and train the output layer on this data.",
        path="transfer.from_run_id",
        value=source.id,
        label=f"fine-tune from run #{source.id}",
    )
