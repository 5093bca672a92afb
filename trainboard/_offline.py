"""Offline runs: kept in the spool folder under a client-made id, created on the server by `trainboard sync`.

A run's folder, `<spool>/offline-<id>/`, holds `run.json` (project, name, config, tags, notes, group,
environment, human-level error), `points.jsonl` (metric points in the order logged), `predictions.jsonl`
(one line per `log_predictions` call), `finish.json` once the run ended, and `owner.pid` while its process
writes. `sync_offline` creates the run with its id as the Idempotency-Key, so a sync repeated after a crash
(or a run whose creation reached the server before it fell away) never makes two, and re-sent points and
predictions are stored once (the server upserts them).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from trainboard._base import BaseRun, Point
from trainboard._http import (
    Client,
    TrainboardError,
    _plain,
    check_artifact_name,
    check_split,
    check_status,
)
from trainboard._spool import OWNER_FILE, owner_alive

PREFIX = "offline-"
#: Files given to log_artifact, kept under the run's folder until sync uploads them.
ARTIFACTS_DIR = "artifacts"
RUN_FILE, POINTS_FILE, PREDICTIONS_FILE, FINISH_FILE = (
    "run.json",
    "points.jsonl",
    "predictions.jsonl",
    "finish.json",
)
#: Points are written out from the file's buffer every this many points or seconds, whichever comes first:
#: a killed process loses at most those (a write per `log` call would cost a system call each).
WRITE_EVERY, WRITE_EVERY_S = 1000, 1.0
KILLED = "the script ended before run.finish() while offline (killed?)"


def _write_json(path: Path, value: Any) -> None:
    """Write then rename, so a reader never sees half a file."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value), encoding="utf-8")
    os.replace(partial, path)


class OfflineRun(BaseRun):
    """A run kept on disk until `trainboard sync` sends it. `log` only appends to a local file."""

    mode = "offline"

    def __init__(self, spec: Mapping[str, Any], spool_root: Path) -> None:
        super().__init__(run_id=str(spec["id"]), name=str(spec.get("name") or ""), params=spec.get("params"))
        self.folder = spool_root / f"{PREFIX}{self.id}"
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        _write_json(self.folder / RUN_FILE, _plain(dict(spec)))
        self._lock = threading.Lock()
        self._points = (self.folder / POINTS_FILE).open("a", encoding="utf-8")
        self._unwritten, self._write_by = 0, time.monotonic() + WRITE_EVERY_S
        self._finish_at_exit()

    def _record(self, points: list[Point]) -> None:
        with self._lock:
            if self.finished:
                raise ValueError(f"run {self.id} is finished: it takes no more points")
            self._points.writelines(json.dumps(point, separators=(",", ":")) + "\n" for point in points)
            self._unwritten += len(points)
            if self._unwritten >= WRITE_EVERY or time.monotonic() >= self._write_by:
                self._points.flush()
                self._unwritten, self._write_by = 0, time.monotonic() + WRITE_EVERY_S

    def log_predictions(self, split: str, predictions: Iterable[Mapping[str, Any]]) -> int:
        check_split(split)
        rows = _plain([dict(p) for p in predictions])
        line = json.dumps({"split": split, "predictions": rows}, separators=(",", ":"))
        with self._lock, (self.folder / PREDICTIONS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        return len(rows)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        """Copy the file into the run's folder (`artifacts/<name>`); `trainboard sync` uploads it."""
        source = Path(path)
        name = name if name is not None else source.name
        check_artifact_name(name)
        if not source.is_file():
            raise FileNotFoundError(f"no file at {source}")
        target = self.folder / ARTIFACTS_DIR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)

    def finish(self, status: str = "succeeded", error: str | None = None) -> None:
        """Close the run's files and record how it ended; `trainboard sync` sends it from then on."""
        check_status(status)
        self._stop_system_metrics()
        with self._lock:
            if self.finished:
                return
            self.finished = True
            self._points.close()
            _write_json(self.folder / FINISH_FILE, {"status": status, "error": error})
        self._stop_finishing_at_exit()


def offline_folders(spool_root: Path) -> list[Path]:
    """Offline runs ready to send, oldest first: finished ones, and those whose process has gone."""
    ready = []
    folders = [f for f in spool_root.glob(f"{PREFIX}*") if (f / RUN_FILE).is_file()]
    for folder in sorted(folders, key=lambda f: (f / RUN_FILE).stat().st_mtime):
        if (folder / FINISH_FILE).is_file() or not owner_alive(folder):
            ready.append(folder)
    return ready


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    """A JSON-lines file's records; a last line cut short by a killed process is skipped."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def _create(client: Client, spec: Mapping[str, Any]) -> dict[str, Any]:
    project = client.get_or_create_project(spec["project"], dataset=spec.get("dataset") or "external")
    if spec.get("human_level_error") is not None:
        client.update_project(project["id"], human_level_error=spec["human_level_error"])
    return client.create_run(
        project["id"],
        params=spec.get("params") or {},
        idempotency_key=str(spec["id"]),
        name=spec.get("name"),
        group=spec.get("group"),
        tags=spec.get("tags"),
        notes=spec.get("notes"),
        environment=spec.get("environment"),
    )


def sync_offline(client: Client, folder: Path) -> tuple[dict[str, Any], int]:
    """Create the offline run in `folder` on the server, send its points, predictions and end, then delete
    the folder; returns the server's run and the number of points sent. TrainboardError keeps the folder."""
    spec = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    run = _create(client, spec)
    points = list(_lines(folder / POINTS_FILE))
    if points:
        client.log_metrics(run["id"], points)
    for batch in _lines(folder / PREDICTIONS_FILE):
        client.log_predictions(run["id"], batch["split"], batch["predictions"])
    artifacts = folder / ARTIFACTS_DIR
    for file in sorted(artifacts.rglob("*")) if artifacts.is_dir() else []:
        if file.is_file():
            client.put_artifact(run["id"], file, file.relative_to(artifacts).as_posix())
    finish = (
        json.loads((folder / FINISH_FILE).read_text(encoding="utf-8"))
        if (folder / FINISH_FILE).is_file()
        else {"status": "failed", "error": KILLED}
    )
    try:
        client.finish_run(run["id"], finish["status"], finish.get("error"))
    except TrainboardError as exc:
        if exc.status_code != 409:  # 409: it had ended already (an earlier sync, the reaper)
            raise
    shutil.rmtree(folder, ignore_errors=True)
    return run, len(points)


__all__ = ["OfflineRun", "offline_folders", "sync_offline"]
