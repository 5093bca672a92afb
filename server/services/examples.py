"""A project's examples as the model saw them: pixels as PNGs, tabular rows as feature values.

The arrays come from trainboard/datasets.py's torch-free loader (numpy + scikit-learn), once per dataset per
process; example ids ("<dataset>-<index>") are looked up in a dict, never used as paths.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sqlalchemy.orm import Session

from server.datasets import BUILTIN_DATASETS
from server.errors import NotFound
from server.png import grey_png
from server.services.projects import get_project
from trainboard.datasets import SPLIT_NAMES, load_splits

IMAGE_SCALE = 6
#: Bump when the rendering changes, so browsers drop their cached copies (the ETag includes it).
RENDER_VERSION = 1


@dataclass(frozen=True)
class DatasetArrays:
    """Raw (unnormalised) inputs of every split, with a row index per example id."""

    name: str
    kind: str
    x: np.ndarray  # (N, *input_shape)
    row_of: dict[str, int]
    feature_names: tuple[str, ...]

    def features(self) -> np.ndarray:
        """(N, F): every input flattened to one row of features."""
        return self.x.reshape(len(self.x), -1)


def _feature_names(name: str, kind: str, shape: tuple[int, ...]) -> tuple[str, ...]:
    if kind == "image":
        height, width = shape[-2:]
        return tuple(f"pixel[{r},{c}]" for r in range(height) for c in range(width))
    from sklearn import datasets as sk_datasets

    loader = {"breast_cancer": sk_datasets.load_breast_cancer, "wine": sk_datasets.load_wine}.get(name)
    names = [str(n) for n in loader().feature_names] if loader else []
    return tuple(names) if len(names) == shape[0] else tuple(f"x{i}" for i in range(shape[0]))


@lru_cache(maxsize=8)
def dataset_arrays(name: str) -> DatasetArrays | None:
    """The built-in dataset's arrays (cached per process), or None for external and uploaded data."""
    info = BUILTIN_DATASETS.get(name)  # uploaded datasets have no example images yet
    if info is None:
        return None
    splits = load_splits(name, normalize=False)
    parts = [splits.by_name(split) for split in SPLIT_NAMES]
    ids = [str(i) for part in parts for i in part.ids]
    x = np.concatenate([part.x for part in parts])
    return DatasetArrays(
        name=name,
        kind=info.kind,
        x=x,
        row_of={example_id: row for row, example_id in enumerate(ids)},
        feature_names=_feature_names(name, info.kind, info.input_shape),
    )


def _example_row(session: Session, project_id: int, example_id: str) -> tuple[DatasetArrays, int]:
    project = get_project(session=session, project_id=project_id)
    arrays = dataset_arrays(project.dataset)
    row = arrays.row_of.get(example_id) if arrays else None
    if arrays is None or row is None:
        raise NotFound("Example", repr(example_id))
    return arrays, row


@dataclass(frozen=True)
class ExampleImage:
    png: bytes
    etag: str


def example_image(*, session: Session, project_id: int, example_id: str) -> ExampleImage:
    """The example drawn as a scaled-up greyscale PNG (image datasets only)."""
    arrays, row = _example_row(session, project_id, example_id)
    if arrays.kind != "image":
        raise NotFound("Image of example", repr(example_id))
    pixels = arrays.x[row].reshape(arrays.x.shape[-2:])
    # Digits are ink intensities in [0, 16]: draw ink dark on white, as on paper.
    png = grey_png(255 - pixels * (255 / 16), scale=IMAGE_SCALE)
    tag = hashlib.sha256(f"{arrays.name}/{example_id}/{RENDER_VERSION}".encode()).hexdigest()[:20]
    return ExampleImage(png=png, etag=f'"{tag}"')


def example_features(*, session: Session, project_id: int, example_id: str) -> dict[str, float]:
    """A tabular example's feature values by name."""
    arrays, row = _example_row(session, project_id, example_id)
    values = arrays.features()[row].tolist()
    return dict(zip(arrays.feature_names, values, strict=True))


def features_of(dataset: str, example_ids: list[str]) -> dict[str, list[float]]:
    """Feature rows of the examples that belong to the built-in dataset (others are left out)."""
    arrays = dataset_arrays(dataset)
    if arrays is None:
        return {}
    features = arrays.features()
    return {e: features[arrays.row_of[e]].tolist() for e in example_ids if e in arrays.row_of}
