"""NumPy .npz (X, y, optional split and example_ids) and CSV (a label column, numeric features)."""

from __future__ import annotations

import csv
import math
import zipfile
from pathlib import Path

import numpy as np

from server.uploads._common import DatasetFileError, Limits, ParsedDataset, check_archive, finish

NPZ_ARRAYS = {"X", "x", "y", "split", "example_ids"}
RESERVED_COLUMNS = {"split", "example_id"}


def _kind_and_layout(x: np.ndarray, declared: str | None) -> tuple[str, np.ndarray]:
    """tabular (N, F); image (N, H, W), (N, C, H, W) or (N, H, W, C) -> (N, C, H, W); sequence (N, T, F)."""
    if x.ndim == 2:
        if declared not in (None, "tabular"):
            raise DatasetFileError("kind", f"{declared} data needs X with 3 or 4 dimensions, not {x.shape}")
        return "tabular", x
    if x.ndim == 3:
        if declared == "sequence":
            return "sequence", x
        return "image", x[:, None]
    if x.ndim == 4 and declared in (None, "image"):
        if x.shape[1] in (1, 3):
            return "image", x
        if x.shape[3] in (1, 3):
            return "image", np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        raise DatasetFileError("X", f"image arrays need 1 or 3 channels, but X has shape {x.shape}")
    raise DatasetFileError("X", f"must have 2 (tabular), 3 or 4 (images) dimensions, but has shape {x.shape}")


def parse_npz(path: Path, *, limits: Limits, kind: str | None = None) -> ParsedDataset:
    """Validate an .npz without unpickling anything."""
    with zipfile.ZipFile(path) as archive:
        members = check_archive(archive, limits)
    names = {m.filename.removesuffix(".npy") for m in members}
    unknown = sorted(names - NPZ_ARRAYS)
    if unknown or any(not m.filename.endswith(".npy") for m in members):
        raise DatasetFileError(
            "file", f"unexpected arrays {unknown} in the .npz; expected X, y, split, example_ids"
        )
    for required in ("y",):
        if required not in names:
            raise DatasetFileError("file", f"the .npz has no array {required!r}")
    if not names & {"X", "x"}:
        raise DatasetFileError("file", "the .npz has no array 'X'")
    arrays: dict[str, np.ndarray] = {}
    with np.load(path, allow_pickle=False) as data:
        for name in sorted(names):
            try:
                arrays[name] = data[name]
            except ValueError as exc:
                message = (
                    "holds Python objects; save plain numeric or string arrays"
                    if "allow_pickle" in str(exc)
                    else str(exc)
                )
                raise DatasetFileError(name, message) from None
    x = arrays.get("X", arrays.get("x"))
    assert x is not None
    if x.dtype.kind not in "biuf":
        raise DatasetFileError("X", f"features must be numbers, but have dtype {x.dtype}")
    kind, x = _kind_and_layout(x, kind)
    return finish(x, arrays["y"], kind=kind, split=arrays.get("split"), example_ids=arrays.get("example_ids"))


def parse_csv(path: Path, *, label_column: str | None = None) -> ParsedDataset:
    """A header row, a label column ("label" unless named), optional split / example_id columns, numbers."""
    label_column = label_column or "label"
    try:
        return _parse_csv_text(path, label_column)
    except UnicodeDecodeError as exc:
        message = f"the CSV is not UTF-8 text (bad byte at position {exc.start})"
        raise DatasetFileError("file", message) from None


def _parse_csv_text(path: Path, label_column: str) -> ParsedDataset:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise DatasetFileError("file", "the CSV is empty; it needs a header row")
        if len(set(header)) != len(header):
            raise DatasetFileError("file", "the CSV header repeats a column name")
        if label_column not in header:
            raise DatasetFileError(
                "label_column", f"no column {label_column!r} in the CSV header {header[:20]}"
            )
        features = [
            i for i, name in enumerate(header) if name != label_column and name not in RESERVED_COLUMNS
        ]
        if not features:
            raise DatasetFileError("file", "the CSV has no feature columns besides the label")
        label_at, split_at = header.index(label_column), header.index("split") if "split" in header else None
        id_at = header.index("example_id") if "example_id" in header else None
        rows, labels, splits, ids = [], [], [], []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetFileError(
                    "file", f"line {line} has {len(row)} fields; the header has {len(header)}"
                )
            values = []
            for i in features:
                try:
                    value = float(row[i])
                except ValueError:
                    raise DatasetFileError(
                        "file", f"line {line}, column {header[i]!r}: {row[i]!r} is not a number"
                    ) from None
                if not math.isfinite(value):
                    raise DatasetFileError(
                        "file", f"line {line}, column {header[i]!r}: {row[i]!r} is not finite"
                    )
                values.append(value)
            rows.append(values)
            labels.append(row[label_at].strip())
            if split_at is not None:
                splits.append(row[split_at].strip())
            if id_at is not None:
                ids.append(row[id_at].strip())
    y = np.array(labels)
    if all(label.lstrip("-").isdigit() for label in labels):
        y = y.astype(np.int64)  # "10" sorts after "9" as a class index, not as text
    return finish(
        np.array(rows, dtype=np.float64).reshape(len(rows), len(features)),
        y,
        kind="tabular",
        split=np.array(splits) if split_at is not None else None,
        example_ids=np.array(ids) if id_at is not None else None,
        x_field="file",
        y_field="label_column",
    )
