"""A zip of one folder of images per class (PNG or JPEG), all one size or resized to a declared size."""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from server.uploads._common import DatasetFileError, Limits, ParsedDataset, check_archive, finish

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


def _open(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Image.Image:
    data = archive.read(info)
    if not data.startswith(IMAGE_MAGIC):
        raise DatasetFileError("file", f"{info.filename!r} is not a PNG or JPEG image")
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise DatasetFileError("file", f"{info.filename!r} cannot be decoded: {exc}") from None
    if max(image.size) > MAX_SIDE:
        raise DatasetFileError(
            "file", f"{info.filename!r} is {image.size[0]}x{image.size[1]}; at most {MAX_SIDE} a side"
        )
    return image


def parse_image_zip(
    path: Path, *, limits: Limits, image_size: tuple[int, int] | None = None
) -> ParsedDataset:
    """Decode every image; refuse mixed sizes unless `image_size` (width, height) is declared."""
    with zipfile.ZipFile(path) as archive:
        folders = _class_folders(check_archive(archive, limits))
        images, labels, ids = [], [], []
        grey = True
        for label, members in folders.items():
            for info in sorted(members, key=lambda m: m.filename):
                image = _open(archive, info)
                try:
                    image.load()
                except (OSError, ValueError) as exc:
                    raise DatasetFileError("file", f"{info.filename!r} cannot be decoded: {exc}") from None
                grey = grey and image.mode in GREY_MODES
                images.append((info.filename, image))
                labels.append(label)
                ids.append(info.filename)
    size = image_size or images[0][1].size
    arrays = []
    for name, image in images:
        if image.size != size:
            if image_size is None:
                raise DatasetFileError(
                    "file",
                    f"{name!r} is {image.size[0]}x{image.size[1]}, the first image {size[0]}x{size[1]}; "
                    "make them one size or set image_size to resize",
                )
            image = image.resize(size)
        pixels = np.asarray(image.convert("L" if grey else "RGB"), dtype=np.uint8)
        arrays.append(pixels[None] if grey else pixels.transpose(2, 0, 1))  # (C, H, W)
    return finish(
        np.stack(arrays),
        np.array(labels),
        kind="image",
        example_ids=np.array(ids),
        x_field="file",
        y_field="file",
    )
