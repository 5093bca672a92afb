"""The metric points a Run has not sent yet: the newest in memory, older ones spooled to disk past a limit."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

from trainboard.files import private_dir

Point = dict[str, Any]
OWNER_FILE = "owner.pid"


class PointBuffer:
    """A thread-safe queue of points, oldest first, that holds at most about `max_memory_points` in memory.

    When memory holds more than `max_memory_points`, they are written as one JSON-lines segment file into a
    folder of their own under `spool_root`; segments are older than whatever is in memory, so reading the
    segments in order and then memory replays every point in the order it was logged. One sender peeks at
    the oldest points and drops them once the server has them; a crash in between only re-sends points,
    which the server stores once (metric points are upserted by run, key and step).
    Memory stays under two segments' worth: the segment being sent and the points logged since.
    """

    def __init__(self, *, max_memory_points: int, spool_root: Path, prefix: str = "points-") -> None:
        if max_memory_points < 1:
            raise ValueError(f"max_memory_points must be at least 1, but got {max_memory_points=}")
        self.max_memory_points = max_memory_points
        self._spool_root, self._prefix = spool_root, prefix
        self._folder: Path | None = None
        self._lock = threading.Lock()
        self._memory: list[Point] = []
        self._segments: deque[Path] = deque()  # segment files, oldest first
        self._head: list[Point] | None = None  # the oldest segment, read back for sending
        self._offset = 0  # points of the head already sent
        self._on_disk = 0  # points in segments not yet sent
        self._written = 0  # segment files made, for their names

    def __len__(self) -> int:
        with self._lock:
            return self._on_disk + len(self._memory)

    @property
    def folder(self) -> Path | None:
        """The spool folder, once a segment has been written."""
        return self._folder

    @property
    def spooled(self) -> int:
        """Segment files written so far (a sign that the server was away for long)."""
        return self._written

    def add(self, points: list[Point]) -> None:
        """Append points; past the memory limit, write memory to a new segment."""
        with self._lock:
            self._memory.extend(points)
            if len(self._memory) > self.max_memory_points:
                self._spill()

    def spill(self) -> Path | None:
        """Write whatever is in memory to disk (a run that gives up keeps its points); the folder, if any."""
        with self._lock:
            if self._memory:
                self._spill()
            return self._folder

    def peek(self, n: int) -> list[Point]:
        """A copy of up to `n` of the oldest points, all from one segment or all from memory."""
        with self._lock:
            if self._segments:
                head = self._load_head()
                return head[self._offset : self._offset + n]
            return self._memory[:n]

    def drop(self, n: int) -> None:
        """Forget the `n` oldest points (the server has them)."""
        with self._lock:
            if self._segments:
                head = self._load_head()
                n = min(n, len(head) - self._offset)
                self._offset += n
                self._on_disk -= n
                if self._offset >= len(head):
                    path = self._segments.popleft()
                    path.unlink(missing_ok=True)
                    self._head, self._offset = None, 0
                    if not self._segments and self._folder is not None:
                        _remove_if_empty(self._folder)
                        self._folder = None
                return
            del self._memory[:n]

    def _spill(self) -> None:
        # Called with the lock held. Write then rename, so a segment on disk is always whole.
        if self._folder is None:
            private_dir(self._spool_root)
            self._folder = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._spool_root))
            # Who is still sending these: `trainboard sync` leaves the folder of a live process alone.
            (self._folder / OWNER_FILE).write_text(str(os.getpid()))
        self._written += 1
        path = self._folder / f"{self._written:08d}.jsonl"
        partial = path.with_suffix(".partial")
        with partial.open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(point, separators=(",", ":")) + "\n" for point in self._memory)
        os.replace(partial, path)
        self._segments.append(path)
        self._on_disk += len(self._memory)
        self._memory = []

    def _load_head(self) -> list[Point]:
        if self._head is None:
            path = self._segments[0]
            with path.open(encoding="utf-8") as handle:
                self._head = [json.loads(line) for line in handle if line.strip()]
        return self._head


def _remove_if_empty(folder: Path) -> None:
    try:
        (folder / OWNER_FILE).unlink(missing_ok=True)
        folder.rmdir()
    except OSError:
        pass  # something else was left there: keep it for the user to see


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def owner_alive(folder: Path) -> bool:
    """Whether another live process still writes `folder` (its OWNER_FILE names that process)."""
    try:
        pid = int((folder / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    return pid != os.getpid() and _alive(pid)


def abandoned_spools(spool_root: Path) -> list[tuple[int, Path]]:
    """(run id, folder) of each spool folder whose process has gone: points a run could not send before it
    ended. A folder whose owner still runs is skipped: that process will send them itself."""
    found = []
    for folder in sorted(spool_root.glob("run-*-*")):
        run_id = folder.name.split("-")[1]
        if not folder.is_dir() or not run_id.isdigit() or owner_alive(folder):
            continue
        found.append((int(run_id), folder))
    return found


def segments(folder: Path) -> list[tuple[Path, list[Point]]]:
    """The folder's whole segment files, oldest first, each with its points."""
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            out.append((path, [json.loads(line) for line in handle if line.strip()]))
    return out


def remove_spool(folder: Path) -> None:
    """Forget a folder whose points the server now has (a half-written `.partial` is dropped with it)."""
    for leftover in folder.glob("*.partial"):
        leftover.unlink(missing_ok=True)
    _remove_if_empty(folder)


__all__ = ["PointBuffer", "abandoned_spools", "owner_alive", "remove_spool", "segments"]
