"""Files the server writes under its data folder, each replaced in one step.

Every writer gets a temporary file of its own beside the target (two requests for one run's checkpoint
once shared `<name>.part<pid>` and stored a mix of both), and the target is swapped in by rename, so a
reader sees the old file or the whole new one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A new file for `path`, written under a unique temporary name and moved onto `path` when the block
    ends without an error (deleted otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    partial = Path(temporary)
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def create_once(path: Path, data: bytes) -> bytes:
    """`path`'s content, writing `data` there first (readable by the owner only) if no file is there yet.
    Of writers racing to create it, one wins and each of them returns the winner's bytes: the file appears
    whole, by a hard link that never replaces a file already there."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:  # mkstemp makes it 0600
                out.write(data)
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    return path.read_bytes()
