"""`trainboard import mlflow`: an MLflow tracking server's experiments and runs, copied into Trainboard.

Read through MLflow's REST API (no MLflow install needed): each experiment becomes a project of the same
name (or `--project`), each run an external run with its name, params, tags, status, start and end times,
and every point of every metric history, timestamps included. An imported run carries the tag
`trainboard.import.source` (the tracking URI and the run id), so importing again finds it and only fills in
what is missing: metric points are stored once per (key, step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from trainboard.importers._mlflow_rest import Target, call, history, paged


@dataclass
class Imported:
    runs: int = 0
    new_runs: int = 0
    points: int = 0


def _experiments(source: httpx.Client, name: str | None) -> list[dict[str, Any]]:
    if name is not None:
        return [
            call(source, "GET", "/experiments/get-by-name", params={"experiment_name": name})["experiment"]
        ]
    return list(paged(source, "/experiments/search", {"max_results": 1000}, "experiments"))


def import_mlflow(
    source: httpx.Client,
    target: httpx.Client,
    *,
    source_uri: str,
    experiment: str | None = None,
    project: str | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Imported:
    """Copy the source's runs (one experiment's, or every active experiment's) into the target server.

    `progress(total)` is called once with the number of runs and returns a callback per finished run (a
    progress bar's update), or is None."""
    into = Target(target)
    plan = []
    for found in _experiments(source, experiment):
        body = {"experiment_ids": [found["experiment_id"]], "max_results": 1000}
        plan += [(found, run) for run in paged(source, "/runs/search", body, "runs")]
    tick = progress(len(plan)) if progress else None
    done = Imported()
    targets: dict[str, str] = {}
    for found, run in plan:
        name = project or found["name"]
        experiment_id = targets.get(name) or targets.setdefault(name, into.experiment(name))
        done.points += _copy_run(
            source, into, experiment_id, run, f"{source_uri.rstrip('/')}#{run['info']['run_id']}", done
        )
        done.runs += 1
        if tick:
            tick(1)
    return done


def _copy_run(
    source: httpx.Client, into: Target, experiment_id: str, run: dict[str, Any], key: str, done: Imported
) -> int:
    info, data = run["info"], run.get("data", {})
    tags = {t["key"]: t["value"] for t in data.get("tags", []) if t["key"] != "mlflow.runName"}
    run_id = into.find_run(experiment_id, key)
    if run_id is None:
        name = info.get("run_name") or info["run_id"]
        run_id = into.create_run(
            experiment_id, name=name, start_time=info.get("start_time"), tags=tags, source=key
        )
        done.new_runs += 1
    params = {p["key"]: p["value"] for p in data.get("params", [])}
    points: list[dict[str, Any]] = []
    for metric in data.get("metrics", []):
        for point in history(source, info["run_id"], metric["key"]):
            points.append({k: point[k] for k in ("key", "value", "timestamp", "step") if k in point})
    into.log(run_id, params=params, points=points)
    into.finish(run_id, info.get("status", "RUNNING"), info.get("end_time"))
    return len(points)
