"""The catalog of built-in datasets: metadata and default hyperparameters, with no arrays and no torch.

The worker builds the arrays (worker/data.py); the server needs only what validates a config and fills its
defaults, so that a config that does not fit the dataset is refused at submit time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.ids import parse_id

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "n_examples": self.n_examples,
            "description": self.description,
            "default_hparams": dict(self.default_hparams),
        }


BUILTIN_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="digits",
            kind="image",
            input_shape=(1, 8, 8),
            n_classes=10,
            n_examples=1797,
            description="Handwritten digits, 8x8 grey images, 10 classes (scikit-learn).",
            default_hparams={"epochs": 30, "batch_size": 64, "lr": 0.001},
        ),
        DatasetInfo(
            name="digits-shifted",
            kind="image",
            input_shape=(1, 8, 8),
            n_classes=10,
            n_examples=1797,
            description="Digits whose dev and test examples are blurred, noisy and shifted: "
            "train and dev come from different distributions, so data mismatch shows.",
            default_hparams={"epochs": 30, "batch_size": 64, "lr": 0.001},
        ),
        DatasetInfo(
            name="breast_cancer",
            kind="tabular",
            input_shape=(30,),
            n_classes=2,
            n_examples=569,
            description="Breast cancer Wisconsin, 30 features, benign or malignant (scikit-learn).",
            default_hparams={"epochs": 30, "batch_size": 32, "lr": 0.001},
        ),
        DatasetInfo(
            name="wine",
            kind="tabular",
            input_shape=(13,),
            n_classes=3,
            n_examples=178,
            description="Wine recognition, 13 chemical features, 3 cultivars (scikit-learn).",
            default_hparams={"epochs": 40, "batch_size": 16, "lr": 0.001},
        ),
    )
}


def uploaded_id(ref: str) -> int | None:
    """The uploaded dataset's id that a project's `dataset` names ('3'), or None: a built-in, 'external', or
    anything else ('03', '+3'), which names no upload, so that the access check and the lookup agree."""
    return parse_id(ref)


def get_dataset(name: str, *, session: Session | None = None) -> DatasetInfo | None:
    """The built-in dataset called `name`; with a session, also an uploaded dataset by its id; else None."""
    info = BUILTIN_DATASETS.get(name)
    if info is None and session is not None:
        from server.services.datasets import uploaded_info  # the catalog itself needs no database

        info = uploaded_info(session=session, ref=name)
    return info
