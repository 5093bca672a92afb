"""Validate and normalise user datasets: .npz, .csv, a zip of class folders, torchvision MNIST/CIFAR-10.

Pure functions over files: no database, no web framework. Every refusal is a DatasetFileError naming the
field or archive member and the reason.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from server.uploads._arrays import parse_npz
from server.uploads._common import (
    SPLIT_NAMES,
    DatasetFileError,
    Limits,
    ParsedDataset,
    sha256_of,
    sniff,
    write_npz,
)
from server.uploads._csv import parse_csv
from server.uploads._images import parse_image_zip
from server.uploads._torchvision import parse_cifar10_folder, parse_mnist_folder

FOLDER_FORMATS = {"mnist": parse_mnist_folder, "cifar10": parse_cifar10_folder}


def _is_npz(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        names = [m.filename for m in archive.infolist() if not m.is_dir()]
    return bool(names) and all(name.endswith(".npy") and "/" not in name for name in names)


def parse_upload(
    path: Path,
    *,
    limits: Limits,
    label_column: str | None = None,
    image_size: tuple[int, int] | None = None,
    kind: str | None = None,
) -> tuple[str, ParsedDataset]:
    """Sniff the file's real format (not its name) and parse it; returns (source, parsed)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if sniff(head) == "csv":
        return "csv", parse_csv(path, limits=limits, label_column=label_column)
    try:
        if _is_npz(path):
            return "npz", parse_npz(path, limits=limits, kind=kind)
        return "images", parse_image_zip(path, limits=limits, image_size=image_size)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DatasetFileError("file", f"a damaged zip archive: {exc}") from None


__all__ = [
    "FOLDER_FORMATS",
    "SPLIT_NAMES",
    "DatasetFileError",
    "Limits",
    "ParsedDataset",
    "parse_csv",
    "parse_image_zip",
    "parse_npz",
    "parse_upload",
    "sha256_of",
    "sniff",
    "write_npz",
]
