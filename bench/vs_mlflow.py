"""Trainboard vs MLflow's tracking server, side by side on the same machine, database kind and workload.

Both servers run as real processes on loopback (one server process each) and are driven over HTTP; this
script imports nothing from MLflow. It expects MLflow in bench/.venv-mlflow (`make bench-deps`).

Workloads, each on SQLite and then on PostgreSQL (a throw-away schema):
  1. ingestion: metric points per second in batches, one client and four concurrent clients
     (MLflow runs/log-batch with its 1000-metric cap; ours at 1000 and at our best batch size);
  2. series read: a 1,000,000-point metric (or each length --series-points lists); MLflow
     metrics/get-history (all pages) vs ours ?max_points=2000 (plus MLflow's own sampled chart endpoint,
     get-history-bulk-interval, for reference);
  2b. all of a run's charts (workload "keys"): --many-keys series of --many-steps points; ours in one
     request (GET /runs/{id}/metrics?keys=...&max_points=2000) vs MLflow's chart endpoint once per key (its
     UI asks per metric; it has no request for several keys);
  3. run list: 10,000 runs with 5 params and 5 metrics, 50 best by dev_error
     (MLflow runs/search ordered by metrics.dev_error vs ours GET /api/v1/runs?sort=dev_error&limit=50);
  3b. script (workload "script"): --clients training scripts, each a process of its own, logging through
     our client library as fast as they can (`Run.log` of 10 keys a step, then `finish`): points/s from
     their first log to the last finish's return, with requests capped at 1,000 points one at a time (as
     before the backlog went in larger requests), up to METRICS_REQUEST_MAX one at a time, and as it ships
     (METRICS_REQUESTS_IN_FLIGHT at a time), against MLflow's log-batch at its cap from as many clients
     (bodies formatted before the clock: MLflow pays no client library);
  4. client: the same MLflow client script (bench/mlflow_client_script.py) against MLflow's server and
     against Trainboard's MLflow API: log_batch at 1,000 points, search_runs, get_metric_history.

Fills: our 10,000 runs are inserted with SQLAlchemy Core into the server's database, our 1M-point
series goes through our REST API (20,000-point batches); MLflow's are made by its API for
one template run, whose rows are then copied with SQL into its own tables (runs, params, metrics,
latest_metrics, tags), because 20,000 API calls or 1M points through log-batch would take many minutes.

    .venv/bin/python bench/vs_mlflow.py [--backends sqlite,postgresql] [--repeats 5] [--seconds 4]
        [--series-points 1e6 | 1e3,1e4,1e5,1e6] [--runs 10000] [--skip-mlflow]
        [--workloads ingest,series,keys,list,script,client] [--many-keys 50] [--many-steps 10000]
        [--clients 1,4] [--our-batches 5000,10000,20000] [--warmup 3] [--list-warmup 5] [--list-samples 20]
        [--list-burst 10] [--list-pause 0]

Both servers run at the same time (each idle while the other is driven); ingestion rounds and run-list
requests alternate between them, so that load from other processes falls on both sides alike.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h  # noqa: E402
from bench import load  # noqa: E402

MLFLOW_BIN = h.ROOT / "bench" / ".venv-mlflow" / "bin" / "mlflow"
MLFLOW_CAP = 1000
KEYS = tuple(f"m{i}" for i in range(10))
OUR_BATCHES = (5000, 10000, 20000)
# Points per client formatted into request bodies before an ingestion round's clock starts.
PREBUILT_POINTS = 1_200_000


# ---------------------------------------------------------------- the two servers as HTTP APIs


class Ours:
    name = "trainboard"

    def __init__(self, url: str, database_url: str) -> None:
        self.url, self.database_url = url, database_url
        self.wire = "series"
        self.http = httpx.Client(base_url=url + "/api/v1", timeout=600)
        self.project_id = self.http.post(
            "/projects", json={"name": f"bench-{uuid.uuid4().hex[:6]}", "dataset": "external"}
        ).json()["id"]

    def new_run(self) -> int:
        response = self.http.post("/runs", json={"project_id": self.project_id, "external": True})
        response.raise_for_status()
        return int(response.json()["id"])

    def batch_body(self, run: int, first_step: int, size: int) -> tuple[str, bytes]:
        """The batch as the client library sends it (`wire`: "series", or "points", one object each)."""
        return f"/runs/{run}/metrics", load.batch_body(first_step, size // len(KEYS), self.wire)


class Mlflow:
    name = "mlflow"

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url + "/api/2.0/mlflow", timeout=1200)
        name = f"bench-{uuid.uuid4().hex[:6]}"
        response = self.http.post("/experiments/create", json={"name": name})
        response.raise_for_status()
        self.experiment_id = response.json()["experiment_id"]

    def new_run(self, name: str | None = None) -> str:
        body = {"experiment_id": self.experiment_id, "start_time": int(time.time() * 1000)}
        if name:
            body["run_name"] = name
        response = self.http.post("/runs/create", json=body)
        response.raise_for_status()
        return str(response.json()["run"]["info"]["run_id"])

    def batch_body(self, run: str, first_step: int, size: int) -> tuple[str, bytes]:
        stamp = int(time.time() * 1000)  # each step a millisecond after the one before, as ours
        metrics = ",".join(
            f'{{"key":"{k}","step":{s},"value":{1.0 / (s + 1)!r},"timestamp":{stamp + i}}}'
            for i, s in enumerate(range(first_step, first_step + size // len(KEYS)))
            for k in KEYS
        )
        return "/runs/log-batch", f'{{"run_id":"{run}","metrics":[{metrics}]}}'.encode()


@contextmanager
def mlflow_server(database_url: str, work: Path, log: Path) -> Iterator[h.Server]:
    """`mlflow server` with one worker, its store in `database_url`, artifacts in a temp folder."""
    port = h.free_port()
    command = [
        str(MLFLOW_BIN), "server",
        "--backend-store-uri", database_url,
        "--default-artifact-root", str(work / "mlartifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        h.wait_http(f"http://127.0.0.1:{port}/health", process, log, timeout=240)
        yield h.Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        # mlflow server starts uvicorn/gunicorn as a child: stop the whole group we started.
        if process.poll() is None:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def mlflow_version() -> str:
    out = subprocess.run([str(MLFLOW_BIN), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().split()[-1]


# ---------------------------------------------------------------- workload 1: ingestion


def ingest_rate(api: Ours | Mlflow, batch: int, clients: int, seconds: float) -> float:
    """Points per second stored by `clients` threads, each posting `batch`-point batches of new steps to
    its own run for about `seconds`.

    The bodies are formatted before the clock starts (up to PREBUILT_POINTS per client, then on the fly):
    formatting 1,000 points takes the client about 0.7 ms, which with one client added 8-10 % to each of
    our batches and under 1 % to MLflow's, so the ratio measured the harness as much as the servers."""
    runs = [api.new_run() for _ in range(clients)]
    per_client = max(2, PREBUILT_POINTS // batch)
    bodies = [[api.batch_body(run, i * batch, batch) for i in range(per_client)] for run in runs]  # type: ignore[arg-type]
    sent = [0] * clients
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        http = httpx.Client(base_url=api.http.base_url, timeout=600)
        barrier.wait()
        i = 0
        while time.perf_counter() < deadline[0]:
            if i < per_client:
                path, body = bodies[index][i]
            else:
                path, body = api.batch_body(runs[index], i * batch, batch)  # type: ignore[arg-type]
            response = http.post(path, content=body, headers={"content-type": "application/json"})
            if response.status_code != 200:
                errors.append(response.text[:300])
                return
            sent[index] += batch - batch % len(KEYS)
            i += 1
        http.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{api.name} refused a batch: {errors[0]}")
    return sum(sent) / elapsed


def median_rate(api: Ours | Mlflow, batch: int, clients: int, seconds: float, repeats: int) -> float:
    return statistics.median(ingest_rate(api, batch, clients, seconds) for _ in range(repeats))


# ---------------------------------------------------------------- workload 2: a 1M-point series


def series_steps_values(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    steps = np.arange(n, dtype=np.int64)
    return steps, np.exp(-steps / max(n / 5, 1)) + rng.normal(0, 0.02, n)


def mlflow_connect(backend: h.Backend):  # type: ignore[no-untyped-def]
    """A DB-API connection to MLflow's store and its parameter marker."""
    if backend.kind == "sqlite":
        import sqlite3

        return sqlite3.connect(backend.plain_url.removeprefix("sqlite:///")), "?"
    import psycopg

    return psycopg.connect(h.POSTGRES, options=f"-csearch_path={backend.schema}"), "%s"


def vacuum(backend: h.Backend) -> None:
    """VACUUM ANALYZE every table of a PostgreSQL backend's schema."""
    import psycopg

    with psycopg.connect(h.POSTGRES, options=f"-csearch_path={backend.schema}", autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def mlflow_fill_series(api: Mlflow, backend: h.Backend, n: int, keys: tuple[str, ...] = ("loss",)) -> str:
    """A run with an n-point metric per key: a first point by the API, the rest copied with SQL."""
    run = api.new_run("series")
    api.http.post(
        "/runs/log-batch",
        json={"run_id": run, "metrics": [{"key": "loss", "value": 1.0, "timestamp": 0, "step": 0}]},
    ).raise_for_status()
    steps, values = series_steps_values(n)
    conn, mark = mlflow_connect(backend)
    cursor = conn.cursor()
    cursor.execute(f"SELECT * FROM metrics WHERE run_uuid = {mark}", (run,))  # noqa: S608
    names = [d[0] for d in cursor.description]
    template = dict(zip(names, cursor.fetchone(), strict=True))
    cursor.execute(f"DELETE FROM metrics WHERE run_uuid = {mark}", (run,))  # noqa: S608
    stamp = int(time.time() * 1000)

    def rows() -> Iterator[tuple[object, ...]]:
        for key in keys:
            for s, v in zip(steps.tolist(), values.tolist(), strict=True):
                row = {**template, "key": key, "step": s, "value": v, "timestamp": stamp + s}
                yield tuple(row[c] for c in names)

    if backend.kind == "sqlite":
        marks = ", ".join("?" for _ in names)
        cursor.executemany(f"INSERT INTO metrics ({', '.join(names)}) VALUES ({marks})", rows())  # noqa: S608
    else:
        with cursor.copy(f"COPY metrics ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows():
                copy.write_row(row)
    conn.commit()
    conn.close()
    return run


def mlflow_read_history(api: Mlflow, run: str, key: str) -> int:
    """Every point of the metric through get-history, following page tokens; returns the count."""
    count, token = 0, None
    while True:
        params = {"run_id": run, "metric_key": key}
        if token:
            params["page_token"] = token
        response = api.http.get("/metrics/get-history", params=params)
        response.raise_for_status()
        body = response.json()
        count += len(body.get("metrics", []))
        token = body.get("next_page_token")
        if not token:
            return count


def mlflow_read_sampled(api: Mlflow, run: str, key: str, max_points: int) -> int:
    """MLflow's own chart path: get-history-bulk-interval (sampled, as its UI requests it)."""
    response = httpx.get(
        api.url + "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": run, "metric_key": key, "max_results": max_points},
        timeout=600,
    )
    response.raise_for_status()
    return len(response.json().get("metrics", []))


# ---------------------------------------------------------------- workload 3: 10,000 runs


def mlflow_fill_runs(api: Mlflow, backend: h.Backend, n: int) -> None:
    """One template run by the API (5 params, 5 metrics, its tags), then n - 1 copies with SQL."""
    template_run = api.new_run("template")
    keys = ("train_error", "train_dev_error", "dev_error", "test_error", "dev_loss")
    params = [
        {"key": k, "value": v}
        for k, v in (
            ("lr", "0.01"),
            ("batch_size", "64"),
            ("l2", "0.001"),
            ("keep_prob", "0.8"),
            ("optimizer", "adam"),
        )
    ]
    metrics = [{"key": k, "value": 0.3, "timestamp": 0, "step": 10} for k in keys]
    api.http.post(
        "/runs/log-batch", json={"run_id": template_run, "params": params, "metrics": metrics}
    ).raise_for_status()
    conn, mark = mlflow_connect(backend)
    cursor = conn.cursor()
    rng = np.random.default_rng(0)
    tables: dict[str, tuple[list[str], list[dict[str, object]]]] = {}
    for table in ("runs", "params", "metrics", "latest_metrics", "tags"):
        cursor.execute(f"SELECT * FROM {table} WHERE run_uuid = {mark}", (template_run,))  # noqa: S608
        names = [d[0] for d in cursor.description]
        tables[table] = (names, [dict(zip(names, row, strict=True)) for row in cursor.fetchall()])
    out: dict[str, list[tuple[object, ...]]] = {t: [] for t in tables}
    for i in range(1, n):
        run_id = uuid.uuid4().hex
        dev = {k: float(rng.uniform(0.01, 0.5)) for k in keys}
        for table, (names, rows) in tables.items():
            for row in rows:
                new = {**row, "run_uuid": run_id}
                if table == "runs":
                    new["name"] = f"run-{i}"
                    new["start_time"] = int(row["start_time"] or 0) + i  # type: ignore[call-overload]
                    if isinstance(row.get("artifact_uri"), str):
                        new["artifact_uri"] = str(row["artifact_uri"]).replace(template_run, run_id)
                elif table in ("metrics", "latest_metrics"):
                    new["value"] = dev[str(row["key"])]
                elif table == "params":
                    new["value"] = (
                        str(round(float(rng.uniform(1e-4, 0.1)), 6)) if row["key"] == "lr" else row["value"]
                    )
                elif table == "tags" and row["key"] == "mlflow.runName":
                    new["value"] = f"run-{i}"
                out[table].append(tuple(new[c] for c in names))
    for table, (names, _) in tables.items():
        if backend.kind == "sqlite":
            marks = ", ".join("?" for _ in names)
            cursor.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", out[table])  # noqa: S608
        else:
            with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for row in out[table]:
                    copy.write_row(row)
    conn.commit()
    cursor.execute("ANALYZE")
    conn.commit()
    conn.close()


def mlflow_search(api: Mlflow) -> int:
    response = api.http.post(
        "/runs/search",
        json={
            "experiment_ids": [api.experiment_id],
            "order_by": ["metrics.dev_error ASC"],
            "max_results": 50,
        },
    )
    response.raise_for_status()
    return len(response.json()["runs"])


def ours_list(api: Ours) -> int:
    response = api.http.get("/runs", params={"project_id": api.project_id, "sort": "dev_error", "limit": 50})
    response.raise_for_status()
    return len(response.json()["items"])


# ---------------------------------------------------------------- the run


Row = tuple[str, str, str, str, str]  # workload, backend, ours, mlflow, ratio


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f} pts/s"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def ratio(x: float | None, y: float | None) -> str:
    return f"{x / y:.1f}x" if x and y else "-"


def interleaved(
    ours: Callable[[], float], theirs: Callable[[], float] | None, repeats: int, pause: float = 0.0
) -> tuple[float, float | None]:
    """Medians of `repeats` measurements of each side, taken alternately (ours, MLflow, ours, ...), so that
    a burst of load from other processes on the machine falls on both sides alike. With `pause`, each
    measurement starts that many seconds after the previous one ended, so that it is not timed while the
    other server is still busy with work it does after replying."""
    mine: list[float] = []
    other: list[float] = []
    for _ in range(repeats):
        time.sleep(pause)
        mine.append(ours())
        if theirs is not None:
            time.sleep(pause)
            other.append(theirs())
    return statistics.median(mine), statistics.median(other) if other else None


def burst(once: Callable[[], float], size: int) -> Callable[[], float]:
    """`size` back-to-back calls of `once`; the median of their times."""
    return lambda: statistics.median(once() for _ in range(size))


def timed(call: Callable[[], object]) -> Callable[[], float]:
    def once() -> float:
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    return once


def run_backend(kind: str, args: argparse.Namespace, rows: list[Row], notes: list[str]) -> None:
    """Both servers up side by side on one database kind; the chosen workloads, each side in turn."""
    work = h.workdir()
    with contextlib.ExitStack() as stack:
        ours_db = stack.enter_context(h.backend(kind, work, "ours"))
        mlflow_db = stack.enter_context(h.backend(kind, work, "mlflow"))
        server = stack.enter_context(h.our_server(ours_db.url, work / "home", work / "ours.log"))
        ours = Ours(server.url, ours_db.url)
        mlflow = None
        if not args.skip_mlflow:
            ml_server = stack.enter_context(mlflow_server(mlflow_db.plain_url, work, work / "mlflow.log"))
            mlflow = Mlflow(ml_server.url)
        if "ingest" in args.workloads:
            run_ingest(kind, args, ours, mlflow, rows)
        if "series" in args.workloads:
            for points in args.series_points:
                run_series(kind, args, points, ours, mlflow, mlflow_db, server.url, rows, notes)
        if "keys" in args.workloads:
            run_many_keys(kind, args, ours, mlflow, mlflow_db, server.url, rows)
        if "list" in args.workloads:
            engine = h.engine_for(ours_db.url)
            h.fill_runs(engine, ours.project_id, args.runs)
            engine.dispose()
            assert ours_list(ours) == 50
            if mlflow is not None:
                mlflow_fill_runs(mlflow, mlflow_db, args.runs)
                assert mlflow_search(mlflow) == 50
            # Both databases as they settle after a bulk load: on PostgreSQL, VACUUM ANALYZE now rather
            # than autovacuum during the measurement (it took both sides' requests up to 2x slower for
            # tens of seconds after the 10,000-run fills).
            if kind == "postgresql":
                vacuum(ours_db)
                vacuum(mlflow_db)
            # Untimed first requests on both sides, as for ingestion: each server's first queries plan
            # and prepare their statements (ours read 5.8 ms in its first ten requests, 3.9 ms after).
            for _ in range(args.list_warmup):
                ours_list(ours)
                if mlflow is not None:
                    mlflow_search(mlflow)
            # Two regimes. Single requests, alternating between the servers: each request finds its
            # server idle (this VM takes 1-2 ms to wake a process up: an empty FastAPI route answers in
            # 0.34 ms back to back and 1.2-1.4 ms after 50 ms of quiet). Bursts of back-to-back requests
            # (each timed), alternating between the servers: a server that is already busy.
            ours_one, mlflow_one = timed(lambda: ours_list(ours)), None
            if mlflow is not None:
                mlflow_one = timed(lambda: mlflow_search(mlflow))  # type: ignore[arg-type]
            mine, theirs = interleaved(ours_one, mlflow_one, args.list_samples, pause=args.list_pause)
            rows.append(
                (f"run list, {args.runs:,} runs, 50 by dev_error, single requests", kind, fmt_ms(mine),
                 fmt_ms(theirs) if theirs else "-", ratio(theirs, mine))
            )  # fmt: skip
            mine, theirs = interleaved(
                burst(ours_one, args.list_burst),
                burst(mlflow_one, args.list_burst) if mlflow_one is not None else None,
                max(3, args.list_samples // args.list_burst),
            )
            rows.append(
                (f"run list, {args.runs:,} runs, 50 by dev_error, bursts of {args.list_burst}", kind,
                 fmt_ms(mine), fmt_ms(theirs) if theirs else "-", ratio(theirs, mine))
            )  # fmt: skip
        if "script" in args.workloads:
            run_script(kind, args, ours, mlflow, work, rows)
        if "client" in args.workloads:
            run_client(kind, args, server.url, mlflow.url if mlflow else None, rows)
        notes.append(
            f"{kind}: our server's resident memory after the workloads: {h.rss_mb(server.pid):.0f} MB"
        )


def run_ingest(
    kind: str, args: argparse.Namespace, ours: Ours, mlflow: Mlflow | None, rows: list[Row]
) -> None:
    for clients, wire in itertools.product(args.clients, args.wires):
        ours.wire = wire
        who = ("1 client" if clients == 1 else f"{clients} clients") + f", ours as {wire}"
        # Untimed warm-up rounds: MLflow's first seconds on a fresh server run at a third of its steady
        # rate (lazy imports, statement compilation), which made it look slower than it is.
        for api in (ours, mlflow) if mlflow else (ours,):
            ingest_rate(api, MLFLOW_CAP, clients, args.warmup)
        mine, theirs = interleaved(
            lambda: ingest_rate(ours, MLFLOW_CAP, clients, args.seconds),  # noqa: B023 (called right here)
            (lambda: ingest_rate(mlflow, MLFLOW_CAP, clients, args.seconds)) if mlflow else None,  # noqa: B023
            args.repeats,
        )
        rows.append(
            (f"ingest, batch 1000, {who}", kind, fmt_rate(mine), fmt_rate(theirs) if theirs else "-",
             ratio(mine, theirs))
        )  # fmt: skip
        if args.our_batches:
            size, best = max(
                ((b, median_rate(ours, b, clients, args.seconds, args.repeats)) for b in args.our_batches),
                key=lambda pair: pair[1],
            )
            rows.append(
                (f"ingest, ours batch {size} vs 1000, {who}", kind, fmt_rate(best),
                 fmt_rate(theirs) if theirs else "-", ratio(best, theirs))
            )  # fmt: skip


#: Steps a script logs in one measurement (10 keys each): within the client's memory buffer, so that
#: the measurement is of the wire and the server, not of spooling to disk.
SCRIPT_STEPS = 8_000


def _script(
    url: str, run_id: int, sends: tuple[int, int], spool: str, ready: Any, go: Any, done: Any
) -> None:
    """One training script, in a process of its own: SCRIPT_STEPS steps of the 10 keys logged through the
    client library as fast as the loop goes, then `finish()`; `sends` is its requests' cap in points and
    how many of them may be in flight at once."""
    from trainboard import _http, _run
    from trainboard.client import Client, Run

    _run.METRICS_REQUEST_MAX, _http.METRICS_REQUESTS_IN_FLIGHT = sends
    client = Client(url, token="", timeout=600)
    run = Run(
        client, {"id": run_id, "status": "running"}, heartbeat_interval_s=None, spool_dir=Path(spool),
        max_buffered_points=10 * SCRIPT_STEPS * len(KEYS),
    )  # fmt: skip
    ready.wait()
    go.wait()
    for step in range(1, SCRIPT_STEPS + 1):
        run.log({key: 1.0 / step for key in KEYS}, step=step)
    run.finish(timeout_s=600)
    done.put(time.monotonic())  # the system's monotonic clock: the parent's reads the same
    client.close()


def script_rate(ours: Ours, sends: tuple[int, int], clients: int, spool: Path) -> float:
    """Points per second that `clients` scripts, each a process logging to its own run, get stored: from
    their first `run.log` (all started together, imported and connected beforehand) to the last one's
    `finish()` returning (not to the processes' exit, which an interpreter's teardown would add)."""
    context = multiprocessing.get_context("spawn")
    ready, go, done = context.Barrier(clients + 1), context.Event(), context.Queue()
    runs = [ours.new_run() for _ in range(clients)]
    procs = [
        context.Process(target=_script, args=(ours.url, run, sends, str(spool), ready, go, done))
        for run in runs
    ]
    for proc in procs:
        proc.start()
    ready.wait()
    start = time.monotonic()
    go.set()
    ends = [done.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = max(ends) - start
    for run_id, proc in zip(runs, procs, strict=True):
        stored = ours.http.get(f"/runs/{run_id}/metrics/{KEYS[-1]}").json()["total_points"]
        if proc.exitcode != 0 or stored != SCRIPT_STEPS:
            raise RuntimeError(
                f"script of run {run_id} exited {proc.exitcode}, {stored} of {SCRIPT_STEPS} stored"
            )
    return clients * SCRIPT_STEPS * len(KEYS) / elapsed


def run_script(
    kind: str, args: argparse.Namespace, ours: Ours, mlflow: Mlflow | None, work: Path, rows: list[Row]
) -> None:
    from trainboard.client import METRICS_REQUEST_MAX, METRICS_REQUESTS_IN_FLIGHT

    spool = work / "spool"
    # How the client library has sent a backlog (requests' cap in points, how many at a time): requests of
    # 1,000 one at a time (until 2026-12-05), of up to METRICS_REQUEST_MAX one at a time (until 2026-12-06),
    # and as it ships.
    cap = f"{METRICS_REQUEST_MAX:,}"
    variants = {(MLFLOW_CAP, 1): "requests of 1,000, one at a time"}
    for in_flight in sorted({1, METRICS_REQUESTS_IN_FLIGHT, *args.in_flight}):
        shipped = " (as shipped)" if in_flight == METRICS_REQUESTS_IN_FLIGHT else ""
        at_once = "one at a time" if in_flight == 1 else f"{in_flight} at a time"
        variants[METRICS_REQUEST_MAX, in_flight] = f"up to {cap}, {at_once}{shipped}"
    for clients in args.clients:
        for sends in variants:
            script_rate(ours, sends, clients, spool)  # untimed, as the ingestion rounds' warm-up
        if mlflow is not None:
            ingest_rate(mlflow, MLFLOW_CAP, clients, args.warmup)
        rates: dict[tuple[int, int], list[float]] = {sends: [] for sends in variants}
        theirs_rates: list[float] = []
        for _ in range(args.repeats):  # interleaved, so that a slow moment of the host hits every row
            for sends, measured in rates.items():
                measured.append(script_rate(ours, sends, clients, spool))
            if mlflow is not None:
                theirs_rates.append(ingest_rate(mlflow, MLFLOW_CAP, clients, args.seconds))
        theirs = statistics.median(theirs_rates) if theirs_rates else None
        who = "1 script" if clients == 1 else f"{clients} scripts"
        for sends, label in variants.items():
            mine = statistics.median(rates[sends])
            rows.append(
                (f"{who} via our client library, {label}, vs log-batch at 1000", kind, fmt_rate(mine),
                 fmt_rate(theirs) if theirs else "-", ratio(mine, theirs))
            )  # fmt: skip


def client_figures(url: str, seconds: float) -> dict[str, float]:
    """bench/mlflow_client_script.py, MLflow's own client, against the MLflow API at `url`."""
    python = MLFLOW_BIN.with_name("python")
    script = h.ROOT / "bench" / "mlflow_client_script.py"
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [str(python), str(script), str(seconds)], env=env, capture_output=True, text=True, timeout=1200
    )
    if done.returncode != 0:
        raise RuntimeError(f"the MLflow client script failed against {url}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_client(
    kind: str, args: argparse.Namespace, ours_url: str, mlflow_url: str | None, rows: list[Row]
) -> None:
    """The same MLflow client script against both servers, alternating, `repeats` times; medians. First,
    log-batch over plain HTTP to both MLflow APIs (as workload ingest does to MLflow), so that the row
    measures the servers: with MLflow's own client, its protobuf JSON handling takes most of the time."""
    adapter = Mlflow(ours_url)  # MLflow's API, served by Trainboard
    theirs_api = Mlflow(mlflow_url) if mlflow_url is not None else None
    for api in (adapter, theirs_api) if theirs_api else (adapter,):
        ingest_rate(api, MLFLOW_CAP, 1, args.warmup)
    http_mine, http_theirs = interleaved(
        lambda: ingest_rate(adapter, MLFLOW_CAP, 1, args.seconds),
        (lambda: ingest_rate(theirs_api, MLFLOW_CAP, 1, args.seconds)) if theirs_api else None,
        args.repeats,
    )
    rows.append(
        ("MLflow API over HTTP: log-batch, 1000 points, 1 client", kind, fmt_rate(http_mine),
         fmt_rate(http_theirs) if http_theirs else "-", ratio(http_mine, http_theirs))
    )  # fmt: skip
    mine: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for _ in range(max(1, args.repeats // 2)):
        mine.append(client_figures(ours_url, args.seconds))
        if mlflow_url is not None:
            theirs.append(client_figures(mlflow_url, args.seconds))

    def median(figures: list[dict[str, float]], key: str) -> float | None:
        return statistics.median(f[key] for f in figures) if figures else None

    rate, other_rate = median(mine, "ingest_pts_s"), median(theirs, "ingest_pts_s")
    rows.append(
        ("MLflow client: log_batch, 1000 points", kind, fmt_rate(rate or 0),
         fmt_rate(other_rate) if other_rate else "-", ratio(rate, other_rate))
    )  # fmt: skip
    for key, label in (
        ("search_s", "search_runs, 51 runs, 20 by a metric"),
        ("history_s", "get_metric_history"),
    ):
        ours_s, their_s = median(mine, key), median(theirs, key)
        points = int(median(mine, "history_points") or 0)
        label = f"{label}, {points:,} points" if key == "history_s" else label
        rows.append(
            (f"MLflow client: {label}", kind, fmt_ms(ours_s or 0), fmt_ms(their_s) if their_s else "-",
             ratio(their_s, ours_s))
        )  # fmt: skip


def run_series(
    kind: str,
    args: argparse.Namespace,
    points: int,
    ours: Ours,
    mlflow: Mlflow | None,
    mlflow_db: h.Backend,
    url: str,
    rows: list[Row],
    notes: list[str],
) -> None:
    series_run = ours.new_run()
    # Through our API (so the rollups are built as in production): part of the fill, not timed here.
    h.post_series(httpx.Client(base_url=url, timeout=600), series_run, ["loss"], points)
    mine = h.median_s(
        lambda: ours.http.get(
            f"/runs/{series_run}/metrics/loss", params={"max_points": 2000}
        ).raise_for_status(),
        args.repeats * 2,
    )
    m: dict[str, float] = {}
    if mlflow is not None:
        run = mlflow_fill_series(mlflow, mlflow_db, points)
        count = mlflow_read_history(mlflow, run, "loss")
        if count != points:
            notes.append(f"{kind}: MLflow get-history returned {count:,} of {points:,} points")
        m["series"] = h.median_s(
            lambda: mlflow_read_history(mlflow, run, "loss"), max(1, args.repeats // 2), warmup=0
        )
        m["sampled"] = h.median_s(lambda: mlflow_read_sampled(mlflow, run, "loss", 2000), args.repeats)
    n = f"{points / 1e6:g}M" if points >= 1e6 else f"{points:,}"
    rows.append(
        (f"read {n}-pt series (ours max_points=2000; MLflow get-history)", kind, fmt_ms(mine),
         fmt_ms(m["series"]) if "series" in m else "-", ratio(m.get("series"), mine))
    )  # fmt: skip
    rows.append(
        (f"read {n}-pt series (MLflow's sampled get-history-bulk-interval, 2000)", kind, fmt_ms(mine),
         fmt_ms(m["sampled"]) if "sampled" in m else "-", ratio(m.get("sampled"), mine))
    )  # fmt: skip


def run_many_keys(
    kind: str,
    args: argparse.Namespace,
    ours: Ours,
    mlflow: Mlflow | None,
    mlflow_db: h.Backend,
    url: str,
    rows: list[Row],
) -> None:
    """Every chart of a run: --many-keys series of --many-steps points, at most 2,000 points each."""
    keys = [f"m/{i:03d}" for i in range(args.many_keys)]
    run_id = ours.new_run()
    h.post_series(httpx.Client(base_url=url, timeout=600), run_id, keys, args.many_steps)
    params = {"keys": ",".join(keys), "max_points": 2000}
    mine = h.median_s(
        lambda: ours.http.get(f"/runs/{run_id}/metrics", params=params).raise_for_status(), args.repeats * 2
    )
    theirs = None
    if mlflow is not None:
        run = mlflow_fill_series(mlflow, mlflow_db, args.many_steps, tuple(keys))

        def every_chart() -> None:
            for key in keys:
                mlflow_read_sampled(mlflow, run, key, 2000)

        theirs = h.median_s(every_chart, args.repeats)
    what = f"all charts of a run, {args.many_keys} keys x {args.many_steps:,} steps"
    rows.append(
        (f"{what} (ours: 1 request; MLflow: get-history-bulk-interval per key)", kind, fmt_ms(mine),
         fmt_ms(theirs) if theirs else "-", ratio(theirs, mine))
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of one ingestion measurement")
    parser.add_argument(
        "--series-points",
        type=lambda text: [int(float(x)) for x in text.split(",")],
        default=[1_000_000],
        help="series lengths to read, comma-separated (e.g. 1e3,1e4,1e5,1e6)",
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--workloads",
        default="ingest,series,keys,list,client",
        help="comma-separated: ingest, series, keys, list, client",
    )
    parser.add_argument("--many-keys", type=int, default=50, help="keys of the run in workload keys")
    parser.add_argument("--many-steps", type=int, default=10_000, help="points per key in workload keys")
    parser.add_argument("--clients", default="1,4", help="concurrent ingestion clients, comma-separated")
    parser.add_argument(
        "--wires",
        default="series,points",
        help="how our batches go: series (columns per key, as the client library) and/or points (one each)",
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of untimed ingestion per side first"
    )
    parser.add_argument("--list-warmup", type=int, default=5, help="untimed run-list requests per side first")
    parser.add_argument("--list-samples", type=int, default=20, help="timed run-list requests per side")
    parser.add_argument(
        "--list-burst", type=int, default=10, help="back-to-back run-list requests per burst (second row)"
    )
    parser.add_argument(
        "--list-pause", type=float, default=0.0, help="seconds of quiet before each timed run-list request"
    )
    parser.add_argument(
        "--our-batches",
        default=",".join(map(str, OUR_BATCHES)),
        help="our larger batch sizes to try (empty: batch 1000 only)",
    )
    parser.add_argument(
        "--in-flight", default="", help="workload script: more counts of requests in flight to compare (2,3)"
    )
    args = parser.parse_args()
    args.in_flight = [int(n) for n in args.in_flight.split(",") if n]
    args.workloads = set(args.workloads.split(","))
    args.clients = [int(c) for c in args.clients.split(",")]
    args.wires = [w for w in args.wires.split(",") if w]
    if not set(args.wires) <= set(load.WIRES):
        parser.error(f"--wires takes {', '.join(load.WIRES)}")
    args.our_batches = [int(b) for b in args.our_batches.split(",") if b]
    if not args.skip_mlflow and not MLFLOW_BIN.exists():
        sys.exit(f"{MLFLOW_BIN} not found: run `make bench-deps` first")
    print(f"machine: {h.machine()}")
    if not args.skip_mlflow:
        print(f"MLflow {mlflow_version()} (bench/.venv-mlflow), one server worker; ours: trainboard serve")
    rows: list[Row] = []
    notes: list[str] = []
    for kind in args.backends.split(","):
        run_backend(kind, args, rows, notes)
        print(
            f"{kind} done: " + "; ".join(f"{r[0]}: {r[2]} vs {r[3]} ({r[4]})" for r in rows if r[1] == kind),
            flush=True,
        )
    header: Row = ("workload", "backend", "trainboard", "MLflow", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    for note in notes:
        print(f"- {note}")
    print("ratio: ours/MLflow for throughput, MLflow/ours for time (higher is better for us).")


if __name__ == "__main__":
    main()
