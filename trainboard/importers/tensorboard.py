"""`trainboard import tensorboard LOGDIR`: the scalars of TensorBoard event files, one run per folder.

Each folder under LOGDIR that holds event files becomes a run (named by its path under LOGDIR) in one
project (`--project`, else LOGDIR's name); each scalar tag a metric, its steps and wall times kept. A tag
that is not a valid metric key ("Loss (train)") has its other characters replaced by '_'. Importing again
finds the runs by their `trainboard.import.source` tag and stores only points not already there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from trainboard.importers._mlflow_rest import Target
from trainboard.importers.mlflow import Imported
from trainboard.importers.tfevents import run_folders, scalars

_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9_.\-/:]")


def metric_key(tag: str) -> str:
    return _NOT_IN_KEY.sub("_", tag)[:250] or "_"


def _points(folder: Path) -> tuple[list[dict[str, Any]], int | None, int | None]:
    points, first, last = [], None, None
    for path in sorted(p for p in folder.iterdir() if p.is_file() and "tfevents" in p.name):
        for scalar in scalars(path):
            if scalar.step < 0 or not math.isfinite(scalar.value):
                continue  # Trainboard's steps start at 0, its values are finite
            ms = int(round(scalar.wall_time * 1000))
            first = ms if first is None else min(first, ms)
            last = ms if last is None else max(last, ms)
            points.append(
                {"key": metric_key(scalar.tag), "value": scalar.value, "timestamp": ms, "step": scalar.step}
            )
    return points, first, last


def import_tensorboard(
    logdir: Path,
    target: httpx.Client,
    *,
    project: str | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Imported:
    """Copy every run folder's scalars under `logdir` into the target server."""
    logdir = logdir.resolve()
    if not logdir.is_dir():
        raise FileNotFoundError(f"{logdir} is not a folder")
    folders = run_folders(logdir)
    tick = progress(len(folders)) if progress else None
    into = Target(target)
    experiment_id = into.experiment(project or logdir.name)
    done = Imported()
    for folder in folders:
        name = folder.relative_to(logdir).as_posix() if folder != logdir else logdir.name
        source = f"tensorboard:{folder}"
        points, first, last = _points(folder)
        run_id = into.find_run(experiment_id, source)
        if run_id is None:
            run_id = into.create_run(experiment_id, name=name, start_time=first, tags={}, source=source)
            done.new_runs += 1
        into.log(run_id, params={}, points=points)
        into.finish(run_id, "FINISHED", last)
        done.runs += 1
        done.points += len(points)
        if tick:
            tick(1)
    return done
