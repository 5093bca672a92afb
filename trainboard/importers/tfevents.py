"""Scalars out of TensorBoard event files, with no TensorFlow, TensorBoard or protobuf installed.

An event file is a TFRecord stream (length, its masked CRC, the record, its masked CRC) of `Event`
protobufs. Only what scalars need is decoded: Event.wall_time (1), step (2) and summary (5); Summary.value
(1); Value.tag (1), simple_value (2, what torch's SummaryWriter.add_scalar writes) and tensor (8, what
TF2's tf.summary.scalar and `new_style=True` write) with its metadata's plugin name (9). Images,
histograms and text are skipped. A record cut short (a writer still running) ends the file quietly.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64 = 1, 2, 3, 9


@dataclass(frozen=True)
class Scalar:
    tag: str
    step: int
    value: float
    wall_time: float  # seconds since the epoch


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value: int | bytes
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _packed(wire: int, value: int | bytes, fmt: str) -> list[float]:
    if not isinstance(value, bytes):
        return [float(value)]
    size = struct.calcsize(fmt)
    return (
        [x for (x,) in struct.iter_unpack("<" + fmt, value[: len(value) // size * size])]
        if wire == 2
        else [struct.unpack("<" + fmt, value)[0]]
    )


def _tensor_scalar(buf: bytes) -> float | None:
    """The value of a one-element numeric TensorProto, else None."""
    dtype, values, content, dims = 0, [], b"", 0
    for number, wire, value in fields(buf):
        if number == 1 and isinstance(value, int):
            dtype = value
        elif number == 2 and isinstance(value, bytes):
            dims = sum(1 for n, _, _ in fields(value) if n == 2)
        elif number == 4 and isinstance(value, bytes):
            content = value
        elif number == 5:
            values += _packed(wire, value, "f")
        elif number == 6:
            values += _packed(wire, value, "d")
        elif number in (7, 10) and isinstance(value, int):  # int_val, int64_val (unpacked)
            values.append(float(_signed(value)))
    if dims:
        return None
    if values:
        return values[0]
    formats = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q"}
    fmt = formats.get(dtype)
    if fmt is not None and len(content) == struct.calcsize(fmt):
        return float(struct.unpack(fmt, content)[0])
    return None


def _plugin(buf: bytes) -> str:
    for number, _, value in fields(buf):
        if number == 1 and isinstance(value, bytes):  # plugin_data
            for inner, _, name in fields(value):
                if inner == 1 and isinstance(name, bytes):
                    return name.decode("utf-8", "replace")
    return ""


def _values(summary: bytes) -> Iterator[tuple[str, float]]:
    for number, _, value in fields(summary):
        if number != 1 or not isinstance(value, bytes):
            continue
        tag, simple, tensor, plugin = "", None, None, ""
        for inner, _, part in fields(value):
            if inner == 1 and isinstance(part, bytes):
                tag = part.decode("utf-8", "replace")
            elif inner == 2 and isinstance(part, bytes):
                simple = struct.unpack("<f", part)[0]
            elif inner == 8 and isinstance(part, bytes):
                tensor = part
            elif inner == 9 and isinstance(part, bytes):
                plugin = _plugin(part)
        if simple is not None:
            yield tag, simple
        elif tensor is not None and plugin in ("scalars", ""):
            found = _tensor_scalar(tensor)
            if found is not None:
                yield tag, found


def records(stream: BinaryIO) -> Iterator[bytes]:
    """The records of a TFRecord stream; a cut-short last record is dropped."""
    while True:
        header = stream.read(12)
        if len(header) < 12:
            return
        (length,) = struct.unpack("<Q", header[:8])
        body = stream.read(length + 4)
        if len(body) < length + 4:
            return
        yield body[:length]


def scalars(path: Path) -> Iterator[Scalar]:
    """Every scalar point of one event file, in file order."""
    with path.open("rb") as stream:
        for record in records(stream):
            wall_time, step, summary = 0.0, 0, b""
            for number, _, value in fields(record):
                if number == 1 and isinstance(value, bytes):
                    wall_time = struct.unpack("<d", value)[0]
                elif number == 2 and isinstance(value, int):
                    step = _signed(value)
                elif number == 5 and isinstance(value, bytes):
                    summary = value
            if summary:
                for tag, scalar in _values(summary):
                    yield Scalar(tag, step, scalar, wall_time)


def run_folders(logdir: Path) -> list[Path]:
    """The folders under `logdir` (itself included) that hold event files: one run each."""
    found = {p.parent for p in logdir.rglob("*tfevents*") if p.is_file()}
    return sorted(found)
