"""One MLflow client script, timed against whichever server MLFLOW_TRACKING_URI names: MLflow's own tracking
server or Trainboard's MLflow API. Run by bench/vs_mlflow.py (workload `client`) with the MLflow client of
bench/.venv-mlflow; prints one JSON line of figures.

    MLFLOW_TRACKING_URI=http://127.0.0.1:8000 bench/.venv-mlflow/bin/python bench/mlflow_client_script.py 4
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

KEYS = [f"m{i}" for i in range(10)]
BATCH = 1000  # MLflow's cap on log_batch
SEARCH_RUNS = 50


def timed(call, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """The median seconds of `repeats` calls, after one untimed call."""
    call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(seconds: float) -> None:
    client = MlflowClient()
    experiment = client.create_experiment(f"client-bench-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment).info.run_id
    stamp, step, points = int(time.time() * 1000), 0, 0

    def one_batch() -> None:
        nonlocal step, points
        metrics = [
            Metric(k, 1.0 / (s + 1), stamp, s) for s in range(step, step + BATCH // len(KEYS)) for k in KEYS
        ]
        client.log_batch(run, metrics=metrics)
        step += BATCH // len(KEYS)
        points += len(metrics)

    for _ in range(5):  # warm-up, untimed
        one_batch()
    start, counted = time.perf_counter(), points
    while time.perf_counter() - start < seconds:
        one_batch()
    rate = (points - counted) / (time.perf_counter() - start)
    for i in range(SEARCH_RUNS):
        other = client.create_run(experiment, run_name=f"r{i}").info.run_id
        metrics = [Metric(k, (i * 37 % 100) / 100, stamp, 0) for k in KEYS[:5]]
        client.log_batch(other, metrics=metrics, params=[Param(f"p{j}", str(i + j)) for j in range(5)])
    search = timed(lambda: client.search_runs([experiment], order_by=["metrics.m0 ASC"], max_results=20), 10)
    history = timed(lambda: client.get_metric_history(run, "m0"), 5)
    print(
        json.dumps({"ingest_pts_s": rate, "search_s": search, "history_s": history, "history_points": step})
    )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
