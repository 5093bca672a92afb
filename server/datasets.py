"""The server's dataset catalog: built-ins (from trainboard/datasets.py) and uploads, with default hparams.

No arrays and no torch: the server needs only what validates a config and fills its defaults, so that a
config that does not fit the dataset is refused at submit time. An uploaded dataset is read from its row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from models.config import DATASET_HPARAMS, UPLOAD_HPARAMS
from server.ids import parse_id
from server.tables import Dataset
from trainboard.datasets import DATASETS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

EXTERNAL = "external"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str  # "image", "tabular" or "sequence"
    input_shape: tuple[int, ...]
    n_classes: int
    n_examples: int
    description: str
    default_hparams: dict[str, Any] = field(default_factory=dict)
    tasks: tuple[str, ...] = ()  # a multi-task dataset's binary tasks (trainboard/datasets.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "n_examples": self.n_examples,
            "description": self.description,
            "default_hparams": dict(self.default_hparams),
            "tasks": list(self.tasks),
        }


BUILTIN_DATASETS: dict[str, DatasetInfo] = {
    name: DatasetInfo(
        name=name,
        kind=builtin.kind,
        input_shape=builtin.input_shape,
        n_classes=builtin.n_classes,
        n_examples=builtin.n_examples,
        description=builtin.description,
        default_hparams=DATASET_HPARAMS[name],
        tasks=builtin.tasks,
    )
    for name, builtin in DATASETS.items()
}


def uploaded_id(ref: str) -> int | None:
    """The uploaded dataset's id that a project's `dataset` names ('3'), or None: a built-in, 'external', or
    anything else ('03', '+3'), which names no upload, so that the access check and the lookup agree."""
    return parse_id(ref)


def uploaded_info(*, session: Session, ref: str) -> DatasetInfo | None:
    """A project's `dataset` string that is an uploaded dataset's id, as catalog info; else None."""
    dataset_id = uploaded_id(ref)
    dataset = None if dataset_id is None else session.get(Dataset, dataset_id)
    if dataset is None:
        return None
    return DatasetInfo(
        name=str(dataset.id),
        kind=dataset.kind,
        input_shape=tuple(dataset.input_shape),
        n_classes=dataset.n_classes,
        n_examples=dataset.n_examples,
        description=dataset.description or f"Uploaded dataset {dataset.name!r}",
        default_hparams=dict(UPLOAD_HPARAMS),
        tasks=tuple(dataset.tasks or ()),
    )


def display_names(*, session: Session, refs: Iterable[str]) -> dict[str, str]:
    """What to show for each project `dataset` string: an upload's name for its id ('3' -> 'reviews');
    built-ins and 'external' show as they are."""
    ids = {ref: dataset_id for ref in refs if (dataset_id := uploaded_id(ref)) is not None}
    names: dict[int, str] = {}
    if ids:
        rows = session.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(set(ids.values()))))
        names = {row.id: row.name for row in rows}
    return {ref: names.get(ids[ref], ref) if ref in ids else ref for ref in refs}


def class_names(*, session: Session, ref: str) -> dict[str, str]:
    """Each class index (as the text predictions store it) -> the name the dataset gives it: a CSV's
    labels (`neg`, `pos`), a built-in's target names. Empty where the index is the only name."""
    builtin = DATASETS.get(ref)
    if builtin is not None:
        names: list[str] = list(builtin.class_names)
    else:
        dataset_id = uploaded_id(ref)
        row = None if dataset_id is None else session.get(Dataset, dataset_id)
        names = [str(c) for c in row.classes] if row is not None else []
    return {str(i): name for i, name in enumerate(names) if name != str(i)}


def get_dataset(name: str, *, session: Session | None = None) -> DatasetInfo | None:
    """The built-in dataset called `name`; with a session, also an uploaded dataset by its id; else None."""
    info = BUILTIN_DATASETS.get(name)
    if info is None and session is not None:
        info = uploaded_info(session=session, ref=name)
    return info
