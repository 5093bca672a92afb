"""What every dataset format shares: the limits, the error, the parsed result and the final checks."""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

SPLIT_NAMES = ("train", "train_dev", "dev", "test")
MIN_EXAMPLES = 10
MIN_CLASSES, MAX_CLASSES = 2, 1000
MAX_ID_LENGTH = 200
SYMLINK_MODE = 0o120000
MIB = 1024 * 1024
#: Rows of features checked at a time, so that a check allocates a slice and not a copy of the array.
CHECK_ROWS = 4096


class DatasetFileError(ValueError):
    """A dataset file we refuse; `field` names the form field (or file member) at fault."""

    def __init__(self, field: str, message: str, *, status_code: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status_code = field, message, status_code


@dataclass(frozen=True)
class Limits:
    """How much an upload may hold: bytes on the wire, bytes once unzipped, bytes of arrays once decoded,
    files in an archive."""

    max_bytes: int
    max_uncompressed_bytes: int
    max_files: int
    max_decoded_bytes: int


def check_decoded(size: int, limits: Limits, what: str) -> None:
    """Refuse (413) a dataset whose arrays would take more than the limit once decoded, before they are.

    `what` says where the size comes from ("X: 1,000 x 784 values as float32")."""
    if size > limits.max_decoded_bytes:
        raise DatasetFileError(
            "file",
            f"the file decodes to {size / MIB:,.0f} MiB of arrays ({what}), more than the "
            f"{limits.max_decoded_bytes / MIB:,.0f} MiB limit (TRAINBOARD_MAX_DECODED_MB)",
            status_code=413,
        )


@dataclass(frozen=True)
class CodedLabels:
    """Labels as indices into their distinct values: a CSV's many rows name a few classes, so its labels
    are kept as numbers while it is read, never as one string per row."""

    codes: np.ndarray  # (N,) int, an index into values
    values: np.ndarray  # (V,) the distinct labels as read: ints or strings

    def __len__(self) -> int:
        return len(self.codes)


@dataclass(frozen=True)
class ParsedDataset:
    """A validated dataset: x (N, *input_shape), y (N,) int64 in [0, K), classes[K], ids (N,) str; a
    multi-task one has y (N, K tasks) in {0, 1, -1} and its task names."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    kind: str
    example_ids: np.ndarray
    split: np.ndarray | None
    # A multi-task dataset: its task names, and y is (N, K) in {0, 1, -1 missing}, classes ["0", "1"].
    tasks: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])


def sniff(head: bytes) -> str:
    """The container a file really is, from its first bytes: "zip" (also .npz) or "csv"."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    known = {
        b"\x93NUMPY": "a single .npy array; save X and y together with numpy.savez",
        b"\x1f\x8b": "gzip-compressed; upload a .zip, an .npz or a plain .csv",
        b"\x89PNG": "a single PNG image; zip one folder of images per class",
        b"\xff\xd8\xff": "a single JPEG image; zip one folder of images per class",
    }
    for magic, what in known.items():
        if head.startswith(magic):
            raise DatasetFileError("file", f"the file is {what}")
    if not head or b"\x00" in head:
        raise DatasetFileError("file", "not a dataset: expected an .npz, a .csv or a .zip of images")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a character cut at the end of the sample is fine
            raise DatasetFileError("file", "not UTF-8 text, nor an .npz or a .zip") from None
    return "csv"


def check_member_name(name: str) -> None:
    """Refuse archive paths that could leave the folder they are unpacked in."""
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise DatasetFileError("file", f"archive member {name!r} has an absolute or Windows path")
    if ".." in PurePosixPath(name).parts:
        raise DatasetFileError("file", f"archive member {name!r} contains '..'")


def check_archive(archive: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    """Names, links, file count and declared sizes of every member, checked before anything is unpacked.

    zipfile never inflates a member past its declared size (it stops and fails the CRC), so summing the
    declared sizes bounds what decompression can produce.
    """
    members = archive.infolist()
    if len(members) > limits.max_files:
        raise DatasetFileError("file", f"the archive holds {len(members)} files; at most {limits.max_files}")
    total = 0
    for info in members:
        check_member_name(info.filename)
        if (info.external_attr >> 16) & 0o170000 == SYMLINK_MODE:
            raise DatasetFileError("file", f"archive member {info.filename!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise DatasetFileError("file", f"archive member {info.filename!r} is encrypted")
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise DatasetFileError(
                "file",
                f"the archive expands to more than {limits.max_uncompressed_bytes} bytes "
                "(the uncompressed-size limit)",
                status_code=413,
            )
    return members


def encode_labels(raw: np.ndarray, field: str = "y") -> tuple[np.ndarray, list[str]]:
    """Labels (ints, integral floats or strings) as 0..K-1 plus the K class names, with 2 <= K <= 1000."""
    if raw.ndim != 1:
        raise DatasetFileError(
            field,
            f"labels must be one-dimensional, but have shape {raw.shape} (several tasks a row: name the "
            "array Y, or list the label columns)",
        )
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)) or not np.all(raw == np.round(raw)):
            raise DatasetFileError(field, "float labels must be whole numbers (class indices)")
        raw = raw.astype(np.int64)
    if raw.dtype.kind not in "biuU":
        raise DatasetFileError(field, f"labels must be integers or strings, but have dtype {raw.dtype}")
    values, codes = np.unique(raw, return_inverse=True)
    if not MIN_CLASSES <= len(values) <= MAX_CLASSES:
        raise DatasetFileError(
            field, f"needs between {MIN_CLASSES} and {MAX_CLASSES} classes, but has {len(values)}"
        )
    return codes.astype(np.int64).reshape(-1), [str(v) for v in values.tolist()]


MAX_TASKS = 100


def task_labels(
    raw: np.ndarray, names: list[str] | None, field: str = "Y"
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Multi-task labels, (N, K) with 1, 0 or -1 (missing), as int64, and the K task names (given, or
    task_1..task_K). Refused naming the task: labels outside {0, 1, -1}, or a task with no labelled
    example."""
    if raw.ndim != 2 or not 2 <= raw.shape[1] <= MAX_TASKS:
        raise DatasetFileError(field, f"must be N x K with 2 to {MAX_TASKS} tasks, but has shape {raw.shape}")
    if raw.dtype.kind not in "biuf":
        raise DatasetFileError(field, f"labels must be 1, 0 or -1 (missing), but have dtype {raw.dtype}")
    width = raw.shape[1]
    names = names if names is not None else [f"task_{j + 1}" for j in range(width)]
    if len(names) != width or len(set(names)) != width or not all(names):
        raise DatasetFileError(
            "tasks", f"must be {width} distinct non-empty names, one per column of {field}"
        )
    for j, name in enumerate(names):
        column = raw[:, j]
        bad = column[~np.isin(column, (0, 1, -1))]
        if bad.size:
            shown = ", ".join(f"{v:g}" for v in np.unique(bad)[:3])
            raise DatasetFileError(
                field, f"task {name!r} has labels other than 1, 0 and -1 (missing): {shown}"
            )
        if not np.any(column >= 0):
            raise DatasetFileError(field, f"task {name!r} has no labelled example (every label is -1)")
    return raw.astype(np.int64), tuple(names)


def _encode(labels: np.ndarray | CodedLabels, field: str) -> tuple[np.ndarray, list[str]]:
    if isinstance(labels, CodedLabels):
        per_value, classes = encode_labels(labels.values, field)
        return per_value[labels.codes], classes
    return encode_labels(np.asarray(labels), field)


def check_split_names(names: set[str]) -> None:
    unknown = sorted(names - set(SPLIT_NAMES))
    if unknown:
        raise DatasetFileError("split", f"unknown split names {unknown}; use {', '.join(SPLIT_NAMES)}")


def check_id_length(length: int) -> None:
    if length > MAX_ID_LENGTH:
        raise DatasetFileError("example_ids", f"each id must be at most {MAX_ID_LENGTH} characters")


def all_finite(x: np.ndarray) -> bool:
    """No NaN or infinity in x, checked a block of rows at a time (no array of x's size is made)."""
    return all(np.isfinite(x[i : i + CHECK_ROWS]).all() for i in range(0, len(x), CHECK_ROWS))


def finish(
    x: np.ndarray,
    labels: np.ndarray | CodedLabels,
    *,
    kind: str,
    split: np.ndarray | None = None,
    example_ids: np.ndarray | None = None,
    x_field: str = "X",
    y_field: str = "y",
    tasks: list[str] | None = None,
    multi_task: bool = False,
) -> ParsedDataset:
    """The checks every format ends with: numeric finite features, matching lengths, labels, splits, ids.
    With `multi_task`, labels are (N, K), one yes/no task a column (`tasks`: its names, else
    task_1..task_K)."""
    if x.dtype.kind not in "biuf":
        raise DatasetFileError(x_field, f"features must be numbers, but have dtype {x.dtype}")
    n = len(x)
    if n < MIN_EXAMPLES:
        raise DatasetFileError(x_field, f"needs at least {MIN_EXAMPLES} examples, but has {n}")
    if x.dtype.kind == "f" and not all_finite(x):
        raise DatasetFileError(x_field, "features contain NaN or infinite values")
    if len(labels) != n:
        raise DatasetFileError(y_field, f"has {len(labels)} labels for {n} examples")
    task_names: tuple[str, ...] = ()
    if multi_task:
        assert isinstance(labels, np.ndarray)
        y, task_names = task_labels(labels, tasks, y_field)
        classes = ["0", "1"]
    else:
        y, classes = _encode(labels, y_field)
    if split is not None:
        split = np.asarray(split)
        if split.dtype.kind != "U" or split.shape != (n,):
            raise DatasetFileError(
                "split", f"must be {n} strings (one per example), got {split.dtype} {split.shape}"
            )
        check_split_names(set(np.unique(split).tolist()))
        if not np.any(split == "train"):
            raise DatasetFileError("split", "no example is in the train split")
    if example_ids is None:
        example_ids = np.arange(n).astype(f"U{len(str(n))}")
    example_ids = np.asarray(example_ids)
    if example_ids.dtype.kind in "iu":
        example_ids = example_ids.astype(str)
    if example_ids.dtype.kind != "U" or example_ids.shape != (n,):
        raise DatasetFileError("example_ids", f"must be {n} strings or integers (one per example)")
    if len(np.unique(example_ids)) != n:
        raise DatasetFileError("example_ids", "must be unique")
    if n and example_ids.dtype.itemsize > 4 * MAX_ID_LENGTH:  # a numpy string is 4 bytes a character
        check_id_length(int(np.strings.str_len(example_ids).max()))
    if x.dtype != np.uint8:
        x = x.astype(np.float32, copy=False)
    return ParsedDataset(
        x=x, y=y, classes=classes, kind=kind, example_ids=example_ids, split=split, tasks=task_names
    )


def write_npz(parsed: ParsedDataset, path: Path) -> str:
    """Save the normalised arrays (no pickles anywhere) and return the file's sha256."""
    arrays = {
        "x": parsed.x,
        "y": parsed.y,
        "classes": np.array(parsed.classes),
        "example_ids": parsed.example_ids,
        "kind": np.array(parsed.kind),
    }
    if parsed.split is not None:
        arrays["split"] = parsed.split
    if parsed.tasks:
        arrays["tasks"] = np.array(parsed.tasks)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        # Loaders open it with allow_pickle=False, so refuse object arrays here already.
        np.savez_compressed(handle, allow_pickle=False, **arrays)
    return sha256_of(path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
