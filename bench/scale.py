"""Pages at scale, timed on a real `trainboard serve` process: the project page at 10,000 runs, the run page
of a run with 50 metric keys x 100,000 steps (and the series requests its charts make), a 1M-point
series, and the error-analysis page at 100,000 predictions. Prints median times, payload sizes and the
server's resident memory (VmRSS now, VmHWM the peak) after each step.

Fills: the 10,000 runs are inserted with SQLAlchemy Core; metric points and predictions go through the
REST API (so the rollups that long series are read from are built the way production builds them).

    .venv/bin/python bench/scale.py [--backend sqlite|postgresql] [--runs 10000] [--keys 50]
        [--steps 100000] [--series-points 1000000] [--predictions 100000] [--repeats 5]

`--table` times only the runs table with a filter expression (issue 19): the API's list and the project
page with 10 picked columns (5 params, 5 summary metrics) at `--runs` runs, as wall and server CPU time.

`--charts` times only the chart reads (issue 23): one series of each of `--lengths` points at
max_points=2000, a run's `--keys` x `--steps` series in one request (and one request a series, and a live
poll with after_step), and `--compare-runs` runs x 5 keys in one cross-run request.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h  # noqa: E402

BATCH = 20_000  # points per request when filling (our best batch size in bench/vs_mlflow.py)


def post_predictions(http: httpx.Client, run_id: int, n: int) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, n)
    wrong = rng.uniform(size=n) < 0.25
    predicted = np.where(wrong, (labels + rng.integers(1, 10, n)) % 10, labels)
    confidence = rng.uniform(0.1, 1, n)
    items = [
        {
            "example_id": f"dev-{i}",
            "label": int(labels[i]),
            "predicted": int(predicted[i]),
            "confidence": float(confidence[i]),
        }
        for i in range(n)
    ]
    http.post(
        f"/api/v1/runs/{run_id}/predictions", json={"split": "dev", "predictions": items}, timeout=600
    ).raise_for_status()


def timed(http: httpx.Client, path: str, repeats: int, **params: object) -> tuple[float, int, int]:
    """Median seconds, payload bytes and status of GET path."""
    response = http.get(path, params=params)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = http.get(path, params=params)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), len(response.content), response.status_code


def cpu_seconds(pid: int) -> float:
    """The server process's user + system CPU time so far (clock ticks of 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_cpu(
    http: httpx.Client, pid: int, path: str, repeats: int, **params: object
) -> tuple[str, int, int]:
    """Median wall time of GET path and the server's mean CPU time per request (what a loaded machine's
    other processes do not inflate), as text; payload bytes and status."""
    before = cpu_seconds(pid)
    t, size, code = timed(http, path, repeats, **params)
    cpu = (cpu_seconds(pid) - before) / (repeats + 1)
    return f"{t * 1000:.1f} ms (server CPU {cpu * 1000:.1f} ms)", size, code


def memory(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in status
        if line.startswith(("VmRSS", "VmHWM"))
    }
    return f"RSS {fields['VmRSS']:.0f} MB (peak {fields['VmHWM']:.0f} MB)"


def chart_rows(http: httpx.Client, project: int, args: argparse.Namespace, pid: int) -> list[tuple]:
    """The chart reads of issue 23: every length at one cost, many series in one request, live polls."""
    rows: list[tuple[str, str, str, str]] = []
    for n in args.lengths:
        run = http.post("/api/v1/runs", json={"project_id": project, "external": True}).json()["id"]
        rate = h.post_series(http, run, ["loss"], n)
        t, size, code = timed_cpu(
            http, pid, f"/api/v1/runs/{run}/metrics/loss", args.repeats * 4, max_points=2000
        )
        rows.append(
            (
                f"one series of {n:,} pts, max_points=2000 (ingested at {rate:,.0f} pts/s)",
                t,
                f"{size / 1024:.0f} KiB ({code})",
                memory(pid),
            )
        )
    run = http.post("/api/v1/runs", json={"project_id": project, "external": True}).json()["id"]
    keys = [f"metric_{i:02d}" for i in range(args.keys)]
    rate = h.post_series(http, run, keys, args.steps)
    rows.append((f"ingest {args.keys} keys x {args.steps:,} steps", f"{rate:,.0f} pts/s", "", memory(pid)))
    url = f"/api/v1/runs/{run}/metrics"
    t, size, code = timed_cpu(http, pid, url, args.repeats, keys=",".join(keys), max_points=2000)
    rows.append(
        (
            f"all {args.keys} series in one request (max_points=2000)",
            t,
            f"{size / 1024:.0f} KiB ({code})",
            memory(pid),
        )
    )
    start = time.perf_counter()
    total = sum(len(http.get(f"{url}/{k}", params={"max_points": 2000}).content) for k in keys)
    rows.append(
        (
            f"the same, one request a series ({args.keys} requests)",
            f"{(time.perf_counter() - start) * 1000:.0f} ms",
            f"{total / 1024:.0f} KiB",
            memory(pid),
        )
    )
    t, size, code = timed_cpu(
        http, pid, url, args.repeats, keys=",".join(keys), max_points=2000, after_step=args.steps - 11
    )
    rows.append(
        (
            f"live poll of all {args.keys} series, after_step (10 new points each)",
            t,
            f"{size / 1024:.1f} KiB ({code})",
            memory(pid),
        )
    )
    compared = []
    for _ in range(args.compare_runs):
        other = http.post("/api/v1/runs", json={"project_id": project, "external": True}).json()["id"]
        h.post_series(http, other, keys[:5], args.compare_steps)
        compared.append(other)
    t, size, code = timed_cpu(
        http,
        pid,
        "/api/v1/metrics",
        args.repeats,
        run_ids=",".join(map(str, compared)),
        keys=",".join(keys[:5]),
        max_points=2000,
    )
    rows.append(
        (
            f"compare: {args.compare_runs} runs x 5 keys x {args.compare_steps:,} steps, one request",
            t,
            f"{size / 1024:.0f} KiB ({code})",
            memory(pid),
        )
    )
    return rows


TABLE_FILTERS = (
    "params.lr < 0.01 and metrics.dev_error < 0.3",
    'params.lr < 0.01 and metrics.dev_error < 0.05 and tags contains "baseline"',
    '(params.optimizer = "adam" or name ~ "^run-1") and metrics.test_error >= 0.2',
)
TABLE_COLUMNS = [
    *(f"params.{k}" for k in ("lr", "batch_size", "l2", "keep_prob", "optimizer")),
    *(f"metrics.{k}" for k in ("train_error", "train_dev_error", "dev_error", "test_error", "dev_loss")),
]


def table_rows(http: httpx.Client, project: int, args: argparse.Namespace, pid: int) -> list[tuple]:
    """The runs table with a filter expression and 10 picked columns (issue 19's bench)."""
    rows: list[tuple[str, str, str, str]] = []
    for q in TABLE_FILTERS:
        for sort in ("-id", "dev_error"):
            t, size, code = timed_cpu(
                http, pid, "/api/v1/runs", args.repeats, project_id=project, q=q, sort=sort, limit=50
            )
            rows.append((f"API list, sort={sort}, q={q}", t, f"{size / 1024:.0f} KiB ({code})", memory(pid)))
        t, size, code = timed_cpu(http, pid, f"/projects/{project}", args.repeats, q=q, col=TABLE_COLUMNS)
        rows.append((f"project page, 10 columns, q={q}", t, f"{size / 1024:.0f} KiB ({code})", memory(pid)))
    t, size, code = timed_cpu(http, pid, f"/projects/{project}", args.repeats, col=TABLE_COLUMNS)
    rows.append(("project page, 10 columns, no filter", t, f"{size / 1024:.0f} KiB ({code})", memory(pid)))
    return rows


def print_rows(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(
        "| "
        + " | ".join(
            c.ljust(w)
            for c, w in zip(("what", "median", "payload", "server memory after"), widths, strict=True)
        )
        + " |"
    )
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--series-points", type=int, default=1_000_000)
    parser.add_argument("--predictions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--charts", action="store_true", help="time only the chart reads (issue 23)")
    parser.add_argument("--table", action="store_true", help="time only the filtered runs table (issue 19)")
    parser.add_argument(
        "--lengths",
        type=lambda text: [int(float(x)) for x in text.split(",")],
        default=[10**3, 2 * 10**3, 5 * 10**3, 10**4, 2 * 10**4, 5 * 10**4, 10**5, 2 * 10**5, 10**6],
        help="series lengths for --charts, e.g. 1e3,1e4,1e7",
    )
    parser.add_argument("--compare-runs", type=int, default=10)
    parser.add_argument("--compare-steps", type=int, default=100_000)
    args = parser.parse_args()
    print(f"machine: {h.machine()}; backend: {args.backend}")
    work = h.workdir()
    rows: list[tuple[str, str, str, str]] = []
    with (
        h.backend(args.backend, work, "scale") as db,
        h.our_server(db.url, work / "home", work / "server.log") as server,
    ):
        http = httpx.Client(base_url=server.url, timeout=600)
        project = http.post("/api/v1/projects", json={"name": "scale", "dataset": "external"}).json()["id"]
        if args.charts:
            print_rows(chart_rows(http, project, args, server.pid))
            return
        engine = h.engine_for(db.url)
        h.fill_runs(engine, project, args.runs)
        engine.dispose()
        if args.table:
            print_rows(table_rows(http, project, args, server.pid))
            return
        t, size, code = timed(http, f"/projects/{project}", args.repeats)
        rows.append(
            (
                f"project page, {args.runs:,} runs",
                f"{t * 1000:.0f} ms",
                f"{size / 1024:.0f} KiB ({code})",
                memory(server.pid),
            )
        )
        t, size, code = timed(
            http, "/api/v1/runs", args.repeats, project_id=project, sort="dev_error", limit=50
        )
        rows.append(
            (
                "GET /api/v1/runs?sort=dev_error&limit=50",
                f"{t * 1000:.0f} ms",
                f"{size / 1024:.0f} KiB ({code})",
                memory(server.pid),
            )
        )

        run = http.post("/api/v1/runs", json={"project_id": project, "external": True}).json()["id"]
        keys = [f"metric_{i:02d}" for i in range(args.keys)]
        rate = h.post_series(http, run, keys, args.steps)
        rows.append(
            (
                f"ingest {args.keys} keys x {args.steps:,} steps (batches of {BATCH:,})",
                f"{rate:,.0f} pts/s",
                "",
                memory(server.pid),
            )
        )
        t, size, code = timed(http, f"/runs/{run}", args.repeats)
        rows.append(
            (
                f"run page, {args.keys} keys x {args.steps:,} steps",
                f"{t * 1000:.0f} ms",
                f"{size / 1024:.0f} KiB ({code})",
                memory(server.pid),
            )
        )
        t, size, code = timed(http, f"/api/v1/runs/{run}/metrics/{keys[0]}", args.repeats, max_points=2000)
        rows.append(
            (
                f"one chart series ({args.steps:,} pts, max_points=2000)",
                f"{t * 1000:.1f} ms",
                f"{size / 1024:.0f} KiB ({code})",
                memory(server.pid),
            )
        )
        start = time.perf_counter()
        total = sum(
            len(http.get(f"/api/v1/runs/{run}/metrics/{k}", params={"max_points": 2000}).content)
            for k in keys
        )
        rows.append(
            (
                f"all {args.keys} chart series, one after another",
                f"{(time.perf_counter() - start) * 1000:.0f} ms",
                f"{total / 1024:.0f} KiB",
                memory(server.pid),
            )
        )

        series_run = http.post("/api/v1/runs", json={"project_id": project, "external": True}).json()["id"]
        rate = h.post_series(http, series_run, ["loss"], args.series_points)
        rows.append(
            (f"ingest one key x {args.series_points:,} steps", f"{rate:,.0f} pts/s", "", memory(server.pid))
        )
        t, size, code = timed(
            http, f"/api/v1/runs/{series_run}/metrics/loss", args.repeats * 2, max_points=2000
        )
        rows.append(
            (
                f"{args.series_points:,}-pt series, max_points=2000",
                f"{t * 1000:.1f} ms",
                f"{size / 1024:.0f} KiB ({code})",
                memory(server.pid),
            )
        )
        t, size, code = timed(http, f"/runs/{series_run}", args.repeats)
        rows.append(
            (
                "run page of that run",
                f"{t * 1000:.0f} ms",
                f"{size / 1024:.0f} KiB ({code})",
                memory(server.pid),
            )
        )

        post_predictions(http, run, args.predictions)
        for name, path in (
            ("error-analysis page", f"/runs/{run}/errors"),
            ("run page with predictions", f"/runs/{run}"),
        ):
            t, size, code = timed(http, path, args.repeats)
            shown = "not there (404)" if code == 404 else f"{t * 1000:.0f} ms"
            rows.append(
                (
                    f"{name}, {args.predictions:,} predictions",
                    shown,
                    f"{size / 1024:.0f} KiB ({code})",
                    memory(server.pid),
                )
            )
        t, size, code = timed(http, f"/api/v1/runs/{run}/error-analysis", args.repeats)
        rows.append(
            (
                f"GET error-analysis API, {args.predictions:,} predictions",
                f"{t * 1000:.0f} ms",
                f"{size / 1024:.0f} KiB ({code})",
                memory(server.pid),
            )
        )
    print_rows(rows)


if __name__ == "__main__":
    main()
