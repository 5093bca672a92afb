"""A tiny greyscale PNG writer (zlib + struct), so the web process needs no imaging library."""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def grey_png(pixels: np.ndarray, *, scale: int = 1) -> bytes:
    """A (H, W) array of values in [0, 255] as an 8-bit greyscale PNG, each pixel a scale x scale block."""
    if pixels.ndim != 2 or 0 in pixels.shape:
        raise ValueError(f"pixels must be a non-empty 2-D array, but got shape={pixels.shape}")
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 64:
        raise ValueError(f"scale must be an integer in [1, 64], but got {scale=}")
    image = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    height, width = image.shape
    # Each scanline starts with filter type 0 (none).
    raw = np.hstack([np.zeros((height, 1), dtype=np.uint8), image]).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )
