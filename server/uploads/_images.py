"""A zip of one folder of images per class (PNG or JPEG), all one size or resized to a declared size."""

from __future__ import annotations

import zipfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from server.uploads._common import (
    DatasetFileError,
    Limits,
    ParsedDataset,
    check_archive,
    check_decoded,
    finish,
)

IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
MAX_SIDE = 1024
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _is_skipped(path: PurePosixPath) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


def _class_folders(members: list[zipfile.ZipInfo]) -> dict[str, list[zipfile.ZipInfo]]:
    """Files grouped by class folder: "<class>/<file>", or "<root>/<class>/<file>" under one top folder."""
    files = [m for m in members if not m.is_dir() and not _is_skipped(PurePosixPath(m.filename))]
    if not files:
        raise DatasetFileError("file", "the zip holds no images")
    paths = [PurePosixPath(m.filename).parts for m in files]
    tops = {parts[0] for parts in paths}
    strip = 1 if len(tops) == 1 and all(len(parts) == 3 for parts in paths) else 0
    classes: dict[str, list[zipfile.ZipInfo]] = defaultdict(list)
    for info, parts in zip(files, paths, strict=True):
        parts = parts[strip:]
        if len(parts) != 2:
            raise DatasetFileError(
                "file", f"{info.filename!r} is not in a class folder: use <class>/<image> for every image"
            )
        classes[parts[0]].append(info)
    return dict(sorted(classes.items()))


@contextmanager
def _open(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[Image.Image]:
    """The image, opened lazily: PIL reads its header (size, mode) now and decodes its pixels on load()."""
    with archive.open(info) as stream:
        if not stream.read(8).startswith(IMAGE_MAGIC):
            raise DatasetFileError("file", f"{info.filename!r} is not a PNG or JPEG image")
        stream.seek(0)
        try:
            image = Image.open(stream, formats=["PNG", "JPEG"])
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise DatasetFileError("file", f"{info.filename!r} cannot be decoded: {exc}") from None
        with image:
            if max(image.size) > MAX_SIDE:
                raise DatasetFileError(
                    "file", f"{info.filename!r} is {image.size[0]}x{image.size[1]}; at most {MAX_SIDE} a side"
                )
            yield image


@dataclass(frozen=True)
class _Entry:
    """One image as its header describes it, before a pixel is decoded."""

    info: zipfile.ZipInfo
    label: str
    size: tuple[int, int]  # (width, height)
    grey: bool


def _entries(archive: zipfile.ZipFile, limits: Limits, image_size: tuple[int, int] | None) -> list[_Entry]:
    """Every image's size and mode from its header; mixed sizes refused (unless resized) before decoding."""
    entries = []
    for label, members in _class_folders(check_archive(archive, limits)).items():
        for info in sorted(members, key=lambda m: m.filename):
            with _open(archive, info) as image:
                entries.append(_Entry(info, label, image.size, image.mode in GREY_MODES))
    first = entries[0].size
    for entry in entries:
        if image_size is None and entry.size != first:
            raise DatasetFileError(
                "file",
                f"{entry.info.filename!r} is {entry.size[0]}x{entry.size[1]}, the first image "
                f"{first[0]}x{first[1]}; make them one size or set image_size to resize",
            )
    return entries


def _decode(archive: zipfile.ZipFile, entry: _Entry, size: tuple[int, int], grey: bool) -> np.ndarray:
    """One image's pixels as (C, H, W) bytes at `size`."""
    with _open(archive, entry.info) as image:
        try:
            image.load()
        except (OSError, ValueError) as exc:
            raise DatasetFileError("file", f"{entry.info.filename!r} cannot be decoded: {exc}") from None
        resized = image.resize(size) if image.size != size else image
        pixels = np.asarray(resized.convert("L" if grey else "RGB"), dtype=np.uint8)
    return pixels[None] if grey else pixels.transpose(2, 0, 1)


def parse_image_zip(
    path: Path, *, limits: Limits, image_size: tuple[int, int] | None = None
) -> ParsedDataset:
    """Read every image's header, bound the pixels they decode to, then decode them one at a time into
    the dataset's array; refuse mixed sizes unless `image_size` (width, height) is declared."""
    with zipfile.ZipFile(path) as archive:
        entries = _entries(archive, limits, image_size)
        width, height = image_size or entries[0].size
        grey = all(entry.grey for entry in entries)
        channels = 1 if grey else 3
        check_decoded(
            len(entries) * channels * height * width,
            limits,
            f"{len(entries):,} images of {width}x{height} pixels x {channels} channels",
        )
        x = np.empty((len(entries), channels, height, width), np.uint8)
        for i, entry in enumerate(entries):
            x[i] = _decode(archive, entry, (width, height), grey)
    return finish(
        x,
        np.array([entry.label for entry in entries]),
        kind="image",
        example_ids=np.array([entry.info.filename for entry in entries]),
        x_field="file",
        y_field="file",
    )
