"""CSV uploads: a header row, a label column ("label" unless named), optional split / example_id columns,
numeric features.

Read in one pass into arrays allocated once: the line ends are counted first, so the features' float32
array is sized (and its size checked against the limit) before a value is parsed; labels are kept as codes
into their few distinct values, never as one Python string per row.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.uploads._common import (
    MAX_CLASSES,
    MIN_CLASSES,
    SPLIT_NAMES,
    CodedLabels,
    DatasetFileError,
    Limits,
    ParsedDataset,
    check_decoded,
    check_id_length,
    check_split_names,
    finish,
)

RESERVED_COLUMNS = {"split", "example_id"}
#: Values parsed into Python floats before they are copied into the array (a few MiB of floats).
BLOCK_VALUES = 1 << 16
SPLIT_CODES = {name: i for i, name in enumerate(SPLIT_NAMES)}
SPLIT_BYTES = 4 * max(len(name) for name in SPLIT_NAMES)  # one split name as a numpy string


def count_records(path: Path) -> int:
    """An upper bound on a CSV's rows: its line ends (\\n, \\r\\n or a lone \\r, as csv reads them) + 1."""
    newlines = returns = pairs = 0
    last = b""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            newlines += block.count(b"\n")
            returns += block.count(b"\r")
            pairs += block.count(b"\r\n") + (last == b"\r" and block[:1] == b"\n")
            last = block[-1:]
    return newlines + returns - pairs + 1


@dataclass(frozen=True)
class Columns:
    """Where things are in the header: the feature columns, the label and the optional split and id."""

    header: list[str]
    features: list[int]
    label_at: int
    split_at: int | None
    id_at: int | None
    # Several label columns ("even,prime"): a multi-task dataset, one yes/no task a column.
    task_ats: tuple[int, ...] = ()

    @classmethod
    def of(cls, header: list[str], label_column: str) -> Columns:
        if not header:
            raise DatasetFileError("file", "the CSV is empty; it needs a header row")
        if len(set(header)) != len(header):
            raise DatasetFileError("file", "the CSV header repeats a column name")
        labels = [name.strip() for name in label_column.split(",") if name.strip()] or ["label"]
        for name in labels:
            if name not in header:
                raise DatasetFileError("label_column", f"no column {name!r} in the CSV header {header[:20]}")
        features = [i for i, name in enumerate(header) if name not in labels and name not in RESERVED_COLUMNS]
        if not features:
            raise DatasetFileError("file", "the CSV has no feature columns besides the label")
        return cls(
            header,
            features,
            header.index(labels[0]),
            header.index("split") if "split" in header else None,
            header.index("example_id") if "example_id" in header else None,
            tuple(header.index(name) for name in labels) if len(labels) > 1 else (),
        )


class Rows:
    """The CSV's rows as they are read: features into their float32 array a block at a time, labels as
    codes, split names as codes, example ids as numpy strings a block at a time."""

    def __init__(self, columns: Columns, capacity: int, limits: Limits) -> None:
        self.columns, self.capacity, self.limits = columns, capacity, limits
        width = len(columns.features)
        self.row_bytes = 4 * width + 8 + (SPLIT_BYTES if columns.split_at is not None else 0)
        self.longest_id = 0
        self.check_size()
        self.n = 0
        self.x = np.empty((capacity, width), np.float32)
        self.codes = np.empty(capacity, np.int64)
        self.task_y = np.empty((capacity if columns.task_ats else 0, len(columns.task_ats)), np.int8)
        self.splits = np.empty(capacity if columns.split_at is not None else 0, np.uint8)
        self.labels: dict[str, int] = {}
        self.pending: list[list[float]] = []
        self.pending_ids: list[str] = []
        self.id_blocks: list[np.ndarray] = []
        self.block_rows = max(1, BLOCK_VALUES // width)

    def check_size(self) -> None:
        width = len(self.columns.features)
        size = self.capacity * (self.row_bytes + 4 * self.longest_id)
        check_decoded(size, self.limits, f"up to {self.capacity:,} rows x {width:,} features as float32")

    def add(self, line: int, row: list[str]) -> None:
        columns = self.columns
        if len(row) != len(columns.header):
            raise DatasetFileError(
                "file", f"line {line} has {len(row)} fields; the header has {len(columns.header)}"
            )
        self.pending.append([self._number(line, row, i) for i in columns.features])
        if columns.task_ats:
            self.task_y[self.n] = [self._task_label(line, row, i) for i in columns.task_ats]
        else:
            self.codes[self.n] = self._label(row[columns.label_at].strip())
        if columns.split_at is not None:
            name = row[columns.split_at].strip()
            check_split_names({name})
            self.splits[self.n] = SPLIT_CODES[name]
        if columns.id_at is not None:
            self._add_id(row[columns.id_at].strip())
        self.n += 1
        if len(self.pending) == self.block_rows:
            self.flush()

    def _number(self, line: int, row: list[str], i: int) -> float:
        try:
            value = float(row[i])
        except ValueError:
            raise DatasetFileError(
                "file", f"line {line}, column {self.columns.header[i]!r}: {row[i]!r} is not a number"
            ) from None
        if not math.isfinite(value):
            raise DatasetFileError(
                "file", f"line {line}, column {self.columns.header[i]!r}: {row[i]!r} is not finite"
            )
        return value

    def _task_label(self, line: int, row: list[str], i: int) -> int:
        """One task's label: 1, 0, or -1 / empty for missing."""
        text = row[i].strip()
        if text in ("", "-1"):
            return -1
        if text in ("0", "1"):
            return int(text)
        raise DatasetFileError(
            "label_column",
            f"line {line}, column {self.columns.header[i]!r}: {text!r} is not 1, 0 or -1 (missing)",
        )

    def _label(self, text: str) -> int:
        code = self.labels.setdefault(text, len(self.labels))
        if len(self.labels) > MAX_CLASSES:
            raise DatasetFileError(
                "label_column",
                f"needs between {MIN_CLASSES} and {MAX_CLASSES} classes, but has more than {MAX_CLASSES}",
            )
        return code

    def _add_id(self, ident: str) -> None:
        check_id_length(len(ident))
        if len(ident) > self.longest_id:
            self.longest_id = len(ident)
            self.check_size()
        self.pending_ids.append(ident)

    def flush(self) -> None:
        if self.pending:
            self.x[self.n - len(self.pending) : self.n] = self.pending
        if self.pending_ids:
            self.id_blocks.append(np.array(self.pending_ids))
        self.pending, self.pending_ids = [], []

    def parsed(self) -> ParsedDataset:
        self.flush()
        n, values = self.n, list(self.labels)
        if self.columns.task_ats:
            return finish(
                self.x[:n],
                self.task_y[:n].astype(np.int64),
                kind="tabular",
                split=np.array(SPLIT_NAMES)[self.splits[:n]] if self.columns.split_at is not None else None,
                example_ids=np.concatenate(self.id_blocks) if self.id_blocks else None,
                x_field="file",
                y_field="label_column",
                tasks=[self.columns.header[i] for i in self.columns.task_ats],
                multi_task=True,
            )
        if values and all(_is_integer(v) for v in values):
            distinct = np.array([int(v) for v in values], np.int64)  # "10" after "9", as class indices
        else:
            distinct = np.array(values)
        return finish(
            self.x[:n],
            CodedLabels(self.codes[:n], distinct),
            kind="tabular",
            split=np.array(SPLIT_NAMES)[self.splits[:n]] if self.columns.split_at is not None else None,
            example_ids=np.concatenate(self.id_blocks) if self.id_blocks else None,
            x_field="file",
            y_field="label_column",
        )


def _is_integer(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit()


def parse_csv(path: Path, *, limits: Limits, label_column: str | None = None) -> ParsedDataset:
    """A header row, a label column ("label" unless named; several, comma-separated, make a multi-task
    dataset of 1 / 0 / -1-or-empty columns), optional split / example_id columns, numbers."""
    capacity = count_records(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            columns = Columns.of([name.strip() for name in next(reader, [])], label_column or "label")
            rows = Rows(columns, capacity, limits)
            for row in reader:
                if row:
                    rows.add(reader.line_num, row)
    except UnicodeDecodeError as exc:
        message = f"the CSV is not UTF-8 text (bad byte at position {exc.start})"
        raise DatasetFileError("file", message) from None
    except csv.Error as exc:
        raise DatasetFileError("file", f"line {reader.line_num}: {exc}") from None
    return rows.parsed()
