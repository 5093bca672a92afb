"""Built-in datasets and their four splits (train, train_dev, dev, test) with stable example ids.

Everything comes from installed packages (scikit-learn); nothing is downloaded, and nothing here imports
torch. It lives in the client library because three sides must cut the same splits with the same example
ids: the worker trains on them, the server draws examples by id (and validates configs against the
catalog), and a user's own script may load them too. Workers may not import the server, nor the server
the worker, so the one definition sits in the package both already import.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: The split seed is fixed (not the run seed) so the same example lands in the same split in every run.
SPLIT_SEED = 20240601
#: Seed of the corruption applied to digits-shifted's dev and test images.
SHIFT_SEED = 7
SPLIT_NAMES = ("train", "train_dev", "dev", "test")
DEFAULT_FRACTIONS = (0.6, 0.1, 0.15, 0.15)


@dataclass(frozen=True)
class DatasetInfo:
    """What the server's catalog and the model registry need to know about a built-in dataset."""

    kind: str
    input_shape: tuple[int, ...]
    n_classes: int
    n_examples: int
    description: str
    #: A multi-task dataset's task names: its labels are (N, K) in {0, 1, -1 missing}, one binary task a
    #: column, and a model has one sigmoid output per task. Empty for a single-task dataset.
    tasks: tuple[str, ...] = ()

    #: What each class index means, as the source names it (empty: the index is the name).
    class_names: tuple[str, ...] = ()

    @property
    def n_outputs(self) -> int:
        """The model's outputs: one logit per class, or per task of a multi-task dataset."""
        return len(self.tasks) if self.tasks else self.n_classes


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        "image", (1, 8, 8), 10, 1797, "Handwritten digits, 8x8 grey images, 10 classes (scikit-learn)."
    ),
    "digits-shifted": DatasetInfo(
        "image",
        (1, 8, 8),
        10,
        1797,
        "Digits whose dev and test examples are blurred, noisy and shifted: "
        "train and dev come from different distributions, so data mismatch shows.",
    ),
    "digits-source": DatasetInfo(
        "image",
        (1, 8, 8),
        10,
        1200,
        "Transfer lesson, the large source task: 1,200 of the digits, clean (about 720 to train on). "
        "Train a model here, then fine-tune it on digits-target.",
    ),
    "digits-target": DatasetInfo(
        "image",
        (1, 8, 8),
        10,
        597,
        "Transfer lesson, the small target task: the other 597 digits, blurred, noisy and some shifted "
        "(another camera), with only 72 images to train on and large dev and test sets. A model from "
        "scratch starts near chance; one fine-tuned from digits-source starts far better.",
    ),
    "digits-tasks": DatasetInfo(
        "image",
        (1, 8, 8),
        2,
        1797,
        "Multi-task lesson: four yes/no questions about each digit (even? above 4? has a loop, as 0, 6, 8 "
        "and 9? prime?) that share low-level features; about a third of the labels are missing (-1), "
        "and the loss sums each task's logistic loss over the labels an example has.",
        tasks=("even", "above_4", "loop", "prime"),
    ),
    "breast_cancer": DatasetInfo(
        "tabular",
        (30,),
        2,
        569,
        "Breast cancer Wisconsin, 30 features, benign or malignant (scikit-learn).",
        class_names=("malignant", "benign"),  # scikit-learn's target_names: 0 is malignant
    ),
    "wine": DatasetInfo(
        "tabular",
        (13,),
        3,
        178,
        "Wine recognition, 13 chemical features, 3 cultivars (scikit-learn).",
        class_names=("cultivar 1", "cultivar 2", "cultivar 3"),
    ),
}


#: The transfer lesson's two halves of the digits: a fixed shuffle of the 1,797 images, whose first
#: 1,200 are the source task and the rest the target task (no image is in both).
DIGIT_PARTS: dict[str, slice] = {"digits-source": slice(0, 1200), "digits-target": slice(1200, None)}
DIGIT_PARTS_SEED = 5
#: Seed of the target task's corruption (every split of it: the whole task comes from the other camera).
TARGET_SEED = 11
#: digits-tasks: each task's answer for the digits 0..9, and the share of labels left out (-1).
DIGIT_TASKS: dict[str, tuple[int, ...]] = {
    "even": (1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
    "above_4": (0, 0, 0, 0, 0, 1, 1, 1, 1, 1),
    "loop": (1, 0, 0, 0, 0, 0, 1, 0, 1, 1),
    "prime": (0, 0, 1, 1, 0, 1, 0, 1, 0, 0),
}
MISSING_SHARE = 0.35
MISSING_SEED = 13
#: Datasets cut into splits other than DEFAULT_FRACTIONS: the small target task keeps little to train on
#: and much to measure with, so that its dev error reads to about 3 points.
SPLIT_FRACTIONS: dict[str, tuple[float, ...]] = {"digits-target": (0.12, 0.1, 0.39, 0.39)}


@dataclass(frozen=True)
class Split:
    """One split: inputs shaped (N, *input_shape) float32, labels (N,) int64 (multi-task: (N, K) in
    {0, 1, -1 missing}), example ids (N,) str."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Splits:
    """The four splits of one dataset, already normalised with statistics of the training split."""

    name: str
    info: DatasetInfo
    train: Split
    train_dev: Split
    dev: Split
    test: Split
    mean: np.ndarray
    std: np.ndarray

    def by_name(self, split: str) -> Split:
        """The split called `split` ("train", "train_dev", "dev" or "test")."""
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {SPLIT_NAMES}, but got {split=}")
        found: Split = getattr(self, split)
        return found


def split_indices(
    n_examples: int, *, fractions: tuple[float, ...] = DEFAULT_FRACTIONS, seed: int = SPLIT_SEED
) -> dict[str, np.ndarray]:
    """Shuffle 0..n-1 with a fixed seed and cut it into the four splits (test takes the remainder)."""
    if len(fractions) != 4 or any(f <= 0 for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be four positive numbers summing to 1, but got {fractions=}")
    order = np.random.default_rng(seed).permutation(n_examples)
    sizes = [round(f * n_examples) for f in fractions[:3]]
    bounds = np.cumsum([0, *sizes, n_examples - sum(sizes)])
    return {name: order[bounds[i] : bounds[i + 1]] for i, name in enumerate(SPLIT_NAMES)}


def blur_shift_noise(
    images: np.ndarray, *, seed: int = SHIFT_SEED, shift_probability: float = 0.3, noise_std: float = 1.5
) -> np.ndarray:
    """Corrupt (N, H, W) images in [0, 16]: 3x3 blur, a one-pixel shift for some, Gaussian noise.

    On 8x8 digits a shift of every image makes a plain MLP fail most of the time, so only a share
    `shift_probability` of them move; dev error lands near 0.25 instead of 0.01.
    """
    rng = np.random.default_rng(seed)
    height, width = images.shape[1:]
    kernel = np.array([1.0, 2.0, 1.0]) / 4.0
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows = sum(kernel[i] * padded[:, i : i + height, :] for i in range(3))
    blurred = sum(kernel[j] * rows[:, :, j : j + width] for j in range(3))
    moves = rng.integers(-1, 2, size=(len(images), 2))
    chosen = rng.random(len(images)) < shift_probability
    framed = np.pad(blurred, ((0, 0), (1, 1), (1, 1)))  # zeros come in from the edge, nothing wraps
    shifted = blurred.copy()
    for n in np.flatnonzero(chosen):
        dy, dx = moves[n]
        shifted[n] = framed[n, 1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]
    noisy = shifted + rng.normal(0.0, noise_std, size=shifted.shape)
    clipped: np.ndarray = np.clip(noisy, 0.0, 16.0)
    return clipped


def digit_part(name: str) -> np.ndarray:
    """The original digits indices of a transfer-lesson dataset (its example ids use them)."""
    return np.random.default_rng(DIGIT_PARTS_SEED).permutation(1797)[DIGIT_PARTS[name]]


def _load_raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, *input_shape) and labels (N,) of a built-in dataset, unnormalised."""
    from sklearn import datasets as sk_datasets  # here, so that reading the catalog stays cheap

    loaders: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
        "digits": lambda: sk_datasets.load_digits(return_X_y=True),
        "digits-shifted": lambda: sk_datasets.load_digits(return_X_y=True),
        "breast_cancer": lambda: sk_datasets.load_breast_cancer(return_X_y=True),
        "wine": lambda: sk_datasets.load_wine(return_X_y=True),
    }
    if name == "digits-tasks":
        x, digit = sk_datasets.load_digits(return_X_y=True)
        y = np.stack([np.array(DIGIT_TASKS[task])[digit] for task in DATASETS[name].tasks], axis=1)
        missing = np.random.default_rng(MISSING_SEED).random(y.shape) < MISSING_SHARE
        y = np.where(missing, -1, y)
    elif name in DIGIT_PARTS:
        x, y = sk_datasets.load_digits(return_X_y=True)
        part = digit_part(name)
        x, y = x[part], y[part]
        if name == "digits-target":
            x = blur_shift_noise(x.reshape(-1, 8, 8), seed=TARGET_SEED)
    else:
        x, y = loaders[name]()
    return x.reshape(len(x), *DATASETS[name].input_shape).astype(np.float64), y.astype(np.int64)


def fit_normalizer(x_train: np.ndarray, *, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std from the training inputs: per feature for tabular data, one scalar for images."""
    if kind == "image":
        mean, std = np.asarray(x_train.mean()), np.asarray(x_train.std())
    else:
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    return mean, np.where(std > 1e-12, std, 1.0)


def read_dataset_file(
    name: str, path: Path
) -> tuple[DatasetInfo, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """An uploaded dataset's normalised .npz: (info, x, y, example ids, split names or None); no pickles."""
    with np.load(path, allow_pickle=False) as data:
        x, y, ids = data["x"].astype(np.float64), data["y"].astype(np.int64), data["example_ids"]
        split = data["split"] if "split" in data.files else None
        kind, n_classes = str(data["kind"]), len(data["classes"])
        tasks = tuple(str(t) for t in data["tasks"].tolist()) if "tasks" in data.files else ()
    info = DatasetInfo(
        kind, tuple(int(d) for d in x.shape[1:]), n_classes, len(y), f"uploaded dataset {name}", tasks
    )
    return info, x, y, ids, split


def _file_indices(
    n_examples: int, split: np.ndarray | None, fractions: tuple[float, ...]
) -> dict[str, np.ndarray]:
    """The file's own split column when it has one (train order shuffled once, for train_fraction)."""
    if split is None:
        return split_indices(n_examples, fractions=fractions)
    indices = {name: np.flatnonzero(split == name) for name in SPLIT_NAMES}
    indices["train"] = np.random.default_rng(SPLIT_SEED).permutation(indices["train"])
    return indices


def load_splits(
    name: str,
    *,
    train_fraction: float = 1.0,
    normalize: bool = True,
    fractions: tuple[float, ...] | None = None,
    file: Path | None = None,
) -> Splits:
    """Load a dataset and cut it into four normalised splits with stable example ids.

    Built-ins get ids "<name>-<original index>"; an uploaded dataset (`file`, its cached .npz) keeps the
    ids stored in the file, and its own split column when it has one. `fractions` default to the
    dataset's own (SPLIT_FRACTIONS), else DEFAULT_FRACTIONS.
    """
    if fractions is None:
        fractions = SPLIT_FRACTIONS.get(name, DEFAULT_FRACTIONS)
    if file is not None:
        info, x, y, ids, split_column = read_dataset_file(name, file)
        indices = _file_indices(len(y), split_column, fractions)
    elif name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; built-in datasets are {', '.join(sorted(DATASETS))}")
    else:
        info = DATASETS[name]
        x, y = _load_raw(name)
        originals = digit_part(name) if name in DIGIT_PARTS else range(len(y))
        ids = np.array([f"{name}-{i}" for i in originals])
        indices = split_indices(len(y), fractions=fractions)
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], but got {train_fraction=}")
    # A deterministic prefix of the (already shuffled) training split, so smaller fractions nest.
    keep = max(1, math.ceil(train_fraction * len(indices["train"])))
    indices["train"] = indices["train"][:keep]
    raw = {split: x[idx] for split, idx in indices.items()}
    if name == "digits-shifted":
        for split in ("dev", "test"):
            raw[split] = blur_shift_noise(raw[split][:, 0], seed=SHIFT_SEED + len(split))[:, None]
    if normalize:
        mean, std = fit_normalizer(raw["train"], kind=info.kind)
    else:
        mean, std = np.asarray(0.0), np.asarray(1.0)
    parts = {
        split: Split(
            x=((raw[split] - mean) / std).astype(np.float32),
            y=y[idx],
            ids=ids[idx],
        )
        for split, idx in indices.items()
    }
    logger.debug("loaded %s: %s", name, {split: len(part) for split, part in parts.items()})
    return Splits(name=name, info=info, mean=mean, std=std, **parts)


def apply_label_corrections(splits: Splits, corrections: dict[str, int | str]) -> Splits:
    """Splits whose dev and test labels carry the corrections; train and train-dev keep theirs.

    Dev and test must come from one distribution, so both are corrected together; the training split may
    keep some label noise, to which deep networks are robust when it is random.
    """
    if not corrections:
        return splits
    fixed: dict[str, Split] = {}
    for name in ("dev", "test"):
        part = splits.by_name(name)
        y = part.y.copy()
        for i, example_id in enumerate(part.ids.tolist()):
            if example_id in corrections:
                y[i] = int(corrections[example_id])
        fixed[name] = Split(x=part.x, y=y, ids=part.ids)
    return replace(splits, dev=fixed["dev"], test=fixed["test"])


def keep_task(splits: Splits, task: str) -> Splits:
    """A multi-task dataset's splits with every label but `task`'s left out (-1): a model trained on them
    is a single-task network for that task (with the same outputs, so the same architecture)."""
    if task not in splits.info.tasks:
        raise ValueError(f"task must be one of {splits.info.tasks}, but got {task=}")
    column = splits.info.tasks.index(task)

    def only(part: Split) -> Split:
        y = np.full_like(part.y, -1)
        y[:, column] = part.y[:, column]
        return Split(x=part.x, y=y, ids=part.ids)

    return replace(
        splits,
        train=only(splits.train),
        train_dev=only(splits.train_dev),
        dev=only(splits.dev),
        test=only(splits.test),
    )


__all__ = [
    "DATASETS",
    "DEFAULT_FRACTIONS",
    "DIGIT_PARTS",
    "DIGIT_TASKS",
    "digit_part",
    "SPLIT_FRACTIONS",
    "SPLIT_NAMES",
    "SPLIT_SEED",
    "apply_label_corrections",
    "DatasetInfo",
    "Split",
    "Splits",
    "blur_shift_noise",
    "fit_normalizer",
    "keep_task",
    "load_splits",
    "read_dataset_file",
    "split_indices",
]
