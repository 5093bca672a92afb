"""What the diagnosis costs a run page: `GET /api/v1/runs/{id}/diagnosis` on a real `trainboard serve`.

The diagnosis reads the run's summary, its split sizes, its dev predictions' counts and three curves
(train_error, dev_error, train_loss) to tell whether training worked. A worker logs those once per epoch
(tens of points); a script that logs its loss every step makes the curve long. This times the endpoint for
a per-epoch run and for runs whose three curves have 10,000, 40,000 (still read raw) and 200,000 (read
from the rollups) points, with 1,000 dev predictions each.

    .venv/bin/python bench/diagnosis.py [--backend sqlite|postgresql] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h  # noqa: E402

LENGTHS = (30, 10_000, 40_000, 200_000)
BATCH = 20_000


def fill(http: httpx.Client, project: int, steps: int) -> int:
    run = http.post("/api/v1/runs", json={"project_id": project, "external": True, "name": f"{steps} steps"})
    run_id = int(run.json()["id"])
    sizes = [{"key": k, "step": 0, "value": 1000.0} for k in ("train_examples", "dev_examples")]
    http.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": sizes}).raise_for_status()
    points = []
    for step in range(1, steps + 1):
        fraction = 0.9 * (1 - step / steps) + 0.02
        points += [
            {"key": "train_error", "step": step, "value": fraction},
            {"key": "dev_error", "step": step, "value": fraction + 0.03},
            {"key": "train_loss", "step": step, "value": 3 * fraction},
        ]
        if len(points) >= BATCH:
            http.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points}).raise_for_status()
            points = []
    if points:
        http.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points}).raise_for_status()
    predictions = [
        {"example_id": f"e{i}", "label": i % 10, "predicted": (i + (i % 7 == 0)) % 10} for i in range(1000)
    ]
    http.post(f"/api/v1/runs/{run_id}/predictions", json={"split": "dev", "predictions": predictions})
    return run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"machine: {h.machine()}; backend: {args.backend}")
    work = h.workdir()
    with (
        h.backend(args.backend, work, "diagnosis") as db,
        h.our_server(db.url, work / "home", work / "server.log") as server,
    ):
        http = httpx.Client(base_url=server.url, timeout=600)
        project = http.post("/api/v1/projects", json={"name": "diagnosis-bench", "dataset": "digits"}).json()
        for steps in LENGTHS:
            run_id = fill(http, int(project["id"]), steps)
            http.get(f"/api/v1/runs/{run_id}/diagnosis").raise_for_status()  # warm up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                http.get(f"/api/v1/runs/{run_id}/diagnosis").raise_for_status()
                times.append((time.perf_counter() - start) * 1000)
            page = []
            for _ in range(5):
                start = time.perf_counter()
                http.get(f"/runs/{run_id}").raise_for_status()
                page.append((time.perf_counter() - start) * 1000)
            print(
                f"curves of {steps:>7,} points: diagnosis median {statistics.median(times):6.1f} ms "
                f"(min {min(times):.1f}), run page median {statistics.median(page):6.1f} ms"
            )


if __name__ == "__main__":
    main()
