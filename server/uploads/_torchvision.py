"""MNIST (idx ubyte) and CIFAR-10 (python pickles) folders in torchvision's layout, parsed without trust.

CIFAR-10's batches are pickles, so they go through an unpickler that can build only dicts, lists, bytes,
strings, numbers and plain numpy arrays: a crafted file cannot name any other callable.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from server.uploads._common import DatasetFileError, ParsedDataset, finish

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
#: torchvision's train file becomes train + train-dev, its test file dev + test (same distribution each).
HELD_OUT_SEED = 20240601


def _find(root: Path, name: str, subfolders: tuple[str, ...]) -> Path:
    for folder in (root, *(root / sub for sub in subfolders)):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DatasetFileError("path", f"{name} not found in {root} (nor in {', '.join(subfolders)})")


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_idx(data: bytes, *, name: str, dims: int) -> np.ndarray:
    """An idx file of unsigned bytes (MNIST's format): magic 0x00000800 + dims, big-endian sizes, data."""
    if len(data) < 4 + 4 * dims or data[:3] != b"\x00\x00\x08" or data[3] != dims:
        raise DatasetFileError("path", f"{name} is not an idx{dims}-ubyte file")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = data[4 + 4 * dims :]
    if len(body) != int(np.prod(shape)):
        raise DatasetFileError("path", f"{name} declares shape {shape} but holds {len(body)} bytes")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _halves(n: int, first: str, second: str, share: float) -> np.ndarray:
    order = np.random.default_rng(HELD_OUT_SEED).permutation(n)
    split = np.full(n, first, dtype="<U9")
    split[order[: round(share * n)]] = second
    return split


def parse_mnist_folder(root: Path) -> ParsedDataset:
    """train-* (60k) -> train and train_dev (1/6); t10k-* (10k) -> dev and test halves."""
    parts = {}
    for part, (images_name, labels_name) in MNIST_FILES.items():
        images = read_idx(_read(_find(root, images_name, ("MNIST/raw", "raw"))), name=images_name, dims=3)
        labels = read_idx(_read(_find(root, labels_name, ("MNIST/raw", "raw"))), name=labels_name, dims=1)
        if len(images) != len(labels):
            raise DatasetFileError(
                "path", f"{images_name} has {len(images)} images but {labels_name} {len(labels)} labels"
            )
        parts[part] = (images, labels)
    return _combine("mnist", parts, [str(i) for i in range(10)])


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"unexpected encoding {encoding!r} in a CIFAR-10 batch")
    return text.encode("latin1")


class _SafeUnpickler(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes  # how protocol-2 pickles from Python 3 spell a bytes object
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DatasetFileError("path", f"{path.name} is not a CIFAR-10 batch: {exc}") from None
    if not isinstance(batch, dict):
        raise DatasetFileError("path", f"{path.name} is not a CIFAR-10 batch (no dict inside)")
    data, labels = batch.get("data", batch.get(b"data")), batch.get("labels", batch.get(b"labels"))
    data, labels = np.asarray(data), np.asarray(labels)
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3 * 32 * 32
        or labels.shape != (len(data),)
    ):
        raise DatasetFileError("path", f"{path.name} does not hold (N, 3072) uint8 data and N labels")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def parse_cifar10_folder(root: Path) -> ParsedDataset:
    """data_batch_1..5 -> train and train_dev (1/6); test_batch -> dev and test halves."""
    sub = ("cifar-10-batches-py",)
    batches = [_cifar_batch(_find(root, name, sub)) for name in CIFAR_TRAIN]
    train = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    return _combine(
        "cifar10", {"train": train, "test": _cifar_batch(_find(root, "test_batch", sub))}, CIFAR_CLASSES
    )


def _combine(prefix: str, parts: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str]) -> ParsedDataset:
    train_x, train_y = parts["train"]
    test_x, test_y = parts["test"]
    if train_x.ndim == 3:
        train_x, test_x = train_x[:, None], test_x[:, None]
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DatasetFileError(
            "path", f"train images are {train_x.shape[1:]} but test images {test_x.shape[1:]}"
        )
    labels = np.concatenate([train_y, test_y]).astype(np.int64)
    if labels.min() < 0 or labels.max() >= len(names):
        raise DatasetFileError("path", f"labels must be in 0..{len(names) - 1}")
    split = np.concatenate(
        [_halves(len(train_y), "train", "train_dev", 1 / 6), _halves(len(test_y), "dev", "test", 0.5)]
    )
    ids = [f"{prefix}-train-{i}" for i in range(len(train_y))] + [
        f"{prefix}-test-{i}" for i in range(len(test_y))
    ]
    parsed = finish(
        np.concatenate([train_x, test_x]),
        labels,
        kind="image",
        split=split,
        example_ids=np.array(ids),
        x_field="path",
        y_field="path",
    )
    # Keep the dataset's own class names (finish() names classes by the labels present).
    present = np.unique(labels)
    return ParsedDataset(
        x=parsed.x,
        y=parsed.y,
        classes=[names[i] for i in present],
        kind="image",
        example_ids=parsed.example_ids,
        split=parsed.split,
    )
