"""The arrays inside an .npz read from their headers first, so that their decoded size is known (and
bounded) before any of them is decompressed; the features then stream into their final array."""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

from server.uploads._common import DatasetFileError

#: Bytes of stored rows read (and converted) at a time.
CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class NpyHeader:
    """What a .npy member declares: its shape, its dtype and whether its data is in Fortran order."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _read_header(stream: IO[bytes], name: str) -> NpyHeader:
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} is not supported")
    except ValueError as exc:
        raise DatasetFileError(name, f"not a readable .npy array: {exc}") from None
    if dtype.hasobject:
        raise DatasetFileError(name, "holds Python objects; save plain numeric or string arrays")
    return NpyHeader(name, tuple(int(d) for d in shape), dtype, bool(fortran_order))


def read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> NpyHeader:
    """The member's header, reading only its first bytes."""
    with archive.open(info) as stream:
        return _read_header(stream, info.filename.removesuffix(".npy"))


def _blocks(stream: IO[bytes], header: NpyHeader) -> Iterator[np.ndarray]:
    """The array a block of whole rows (first axis) at a time, as stored."""
    n, row_shape = header.shape[0], header.shape[1:]
    row_bytes = math.prod(row_shape) * header.dtype.itemsize
    if header.fortran_order:  # rare (numpy writes C order): read whole, bounded by the decoded limit
        data = stream.read(header.size * header.dtype.itemsize)
        whole = np.frombuffer(data, header.dtype, count=len(data) // header.dtype.itemsize)
        if whole.size != header.size:
            raise DatasetFileError(header.name, f"holds fewer values than its shape {header.shape}")
        yield whole.reshape(header.shape, order="F")
        return
    rows = max(1, CHUNK_BYTES // max(row_bytes, 1))
    for start in range(0, n, rows):
        count = min(rows, n - start)
        data = stream.read(count * row_bytes)
        if len(data) != count * row_bytes:
            raise DatasetFileError(header.name, f"holds fewer values than its shape {header.shape}")
        yield np.frombuffer(data, header.dtype).reshape((count, *row_shape))


def stream_rows(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: np.ndarray, *, channels_last: bool = False
) -> None:
    """Decompress the member into `out` (its final dtype and layout) a few rows at a time: no copy of the
    array as stored is ever whole in memory. `channels_last` moves (N, H, W, C) to out's (N, C, H, W)."""
    # A value beyond float32 becomes infinity here, which the final checks refuse: no warning needed.
    with archive.open(info) as stream, np.errstate(over="ignore"):
        header = _read_header(stream, info.filename.removesuffix(".npy"))
        start = 0
        for block in _blocks(stream, header):
            if channels_last:
                block = block.transpose(0, 3, 1, 2)
            out[start : start + len(block)] = block.reshape((len(block), *out.shape[1:]))
            start += len(block)
