"""NumPy .npz uploads: X, y, optional split and example_ids; no pickles, no more decoded than the limit."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from server.uploads._common import (
    DatasetFileError,
    Limits,
    ParsedDataset,
    check_archive,
    check_decoded,
    finish,
)
from server.uploads._npy import NpyHeader, read_header, stream_rows

NPZ_ARRAYS = {"X", "x", "y", "Y", "tasks", "split", "example_ids"}
#: The arrays besides the features that are loaded whole (bounded by the decoded-size check first).
LOADED = {"y", "Y", "tasks", "split", "example_ids"}


def _kind_and_layout(shape: tuple[int, ...], declared: str | None) -> tuple[str, tuple[int, ...], bool]:
    """tabular (N, F); image (N, H, W), (N, C, H, W) or (N, H, W, C) -> (N, C, H, W); sequence (N, T, F).

    Returns the kind, the shape the features take and whether they are stored channels last."""
    if len(shape) == 2:
        if declared not in (None, "tabular"):
            raise DatasetFileError("kind", f"{declared} data needs X with 3 or 4 dimensions, not {shape}")
        return "tabular", shape, False
    if len(shape) == 3:
        if declared == "sequence":
            return "sequence", shape, False
        return "image", (shape[0], 1, *shape[1:]), False
    if len(shape) == 4 and declared in (None, "image"):
        if shape[1] in (1, 3):
            return "image", shape, False
        if shape[3] in (1, 3):
            return "image", (shape[0], shape[3], shape[1], shape[2]), True
        raise DatasetFileError("X", f"image arrays need 1 or 3 channels, but X has shape {shape}")
    raise DatasetFileError("X", f"must have 2 (tabular), 3 or 4 (images) dimensions, but has shape {shape}")


def _check_members(members: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The arrays by name: only known ones, with y and X present."""
    named = {m.filename.removesuffix(".npy"): m for m in members}
    unknown = sorted(set(named) - NPZ_ARRAYS)
    if unknown or any(not m.filename.endswith(".npy") for m in members):
        raise DatasetFileError(
            "file", f"unexpected arrays {unknown} in the .npz; expected X, y, split, example_ids"
        )
    if not set(named) & {"y", "Y"}:
        raise DatasetFileError("file", "the .npz has no array 'y' (nor 'Y', N x K labels of several tasks)")
    if {"y", "Y"} <= set(named):
        raise DatasetFileError("file", "the .npz has both 'y' and 'Y': one label array, please")
    if not set(named) & {"X", "x"}:
        raise DatasetFileError("file", "the .npz has no array 'X'")
    return named


def _decoded_size(x: NpyHeader, others: list[NpyHeader], features: np.dtype) -> tuple[int, str]:
    """Bytes the arrays take once loaded: X in its final dtype, labels also as int64 codes, the rest as
    stored; and how X's share was counted."""
    size = x.size * features.itemsize
    for header in others:
        size += header.size * (header.dtype.itemsize + (8 if header.name in ("y", "Y") else 0))
    return size, f"{x.name}: {x.size:,} values as {features}"


def parse_npz(path: Path, *, limits: Limits, kind: str | None = None) -> ParsedDataset:
    """Validate an .npz without unpickling anything, and without decoding more than the limit allows."""
    with zipfile.ZipFile(path) as archive:
        named = _check_members(check_archive(archive, limits))
        x_name = "X" if "X" in named else "x"
        headers = {name: read_header(archive, named[name]) for name in named if name in LOADED | {x_name}}
        x_header = headers.pop(x_name)
        if x_header.dtype.kind not in "biuf":
            raise DatasetFileError("X", f"features must be numbers, but have dtype {x_header.dtype}")
        kind, shape, channels_last = _kind_and_layout(x_header.shape, kind)
        features = np.dtype(np.uint8 if x_header.dtype == np.uint8 else np.float32)
        size, counted = _decoded_size(x_header, list(headers.values()), features)
        check_decoded(size, limits, counted)
        x = np.empty(shape, features)
        stream_rows(archive, named[x_name], x, channels_last=channels_last)
    arrays: dict[str, np.ndarray] = {}
    with np.load(path, allow_pickle=False) as data:
        for name in headers:
            try:
                arrays[name] = data[name]
            except ValueError as exc:  # data that does not match its header
                raise DatasetFileError(name, str(exc)) from None
    if "Y" in arrays:  # several tasks: N x K labels, 1 / 0 / -1 (missing)
        names = arrays.get("tasks")
        return finish(
            x,
            arrays["Y"],
            kind=kind,
            split=arrays.get("split"),
            example_ids=arrays.get("example_ids"),
            y_field="Y",
            multi_task=True,
            tasks=None if names is None else [str(n) for n in names.reshape(-1).tolist()],
        )
    return finish(x, arrays["y"], kind=kind, split=arrays.get("split"), example_ids=arrays.get("example_ids"))
