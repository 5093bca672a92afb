"""Small dataset files in every upload format, good and deliberately bad, built in memory for tests."""

from __future__ import annotations

import io
import stat
import zipfile

import numpy as np
from PIL import Image


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def good_npz(n: int = 40, features: int = 5, classes: int = 3, **extra: np.ndarray) -> bytes:
    rng = np.random.default_rng(0)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, features)) + y[:, None]
    return npz_bytes(X=x, y=y, **extra)


def csv_bytes(n: int = 30, label: str = "label") -> bytes:
    lines = [f"a,b,{label}"] + [f"{i % 3 + 0.5},{i * 0.1:.2f},{'cat' if i % 2 else 'dog'}" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def png_bytes(size: tuple[int, int] = (8, 8), value: int = 0, fmt: str = "PNG", mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=value if mode == "L" else (value, value, value)).save(buffer, format=fmt)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def image_zip(per_class: int = 6, size: tuple[int, int] = (8, 8), prefix: str = "") -> bytes:
    members = {}
    for label, value in (("circle", 40), ("square", 200)):
        for i in range(per_class):
            fmt = "JPEG" if i % 3 == 2 else "PNG"
            ext = "jpg" if fmt == "JPEG" else "png"
            members[f"{prefix}{label}/{i}.{ext}"] = png_bytes(size, value + i, fmt)
    return zip_bytes(members)
