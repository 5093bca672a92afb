"""Load: many concurrent clients, each logging metric batches to its own run, against one Trainboard server.

The server is a real `trainboard serve` process (one uvicorn process) on PostgreSQL, in a throw-away schema
(bench/_harness.py). Each client is a thread with its own httpx connection and its own external run; the
threads are spread over a few processes so that the clients' own Python does not serialise on one GIL.
Closed loop: a client sends its next batch as soon as the last one is answered, so the figures are the
server's capacity, and latency is measured at that load. A batch that fails is sent again (the server
upserts by run, key and step), so "sent" counts each point once.

Prints throughput (points/s, requests/s), request latency p50/p99, the server's CPU use, then counts the
rows in metric_points and checks that every point sent is stored exactly once (PASS/FAIL).

    .venv/bin/python bench/load.py [--clients 50] [--seconds 60] [--batch 100] [--processes 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h  # noqa: E402
from trainboard._http import series_body  # noqa: E402

KEYS = tuple(f"m{i}" for i in range(10))


@dataclass
class ClientResult:
    run_id: int
    points: int = 0
    requests: int = 0
    failures: int = 0
    latencies_s: list[float] = field(default_factory=list)


#: How a batch goes on the wire: "series", columns per key (what the client library sends), or "points",
#: one object per point (the first form, and MLflow's).
WIRES = ("series", "points")


def batch_points(first_step: int, steps: int) -> list[dict[str, object]]:
    """`steps` steps of every key in KEYS, each step stamped a millisecond after the one before, as a
    script's `run.log` calls stamp them."""
    start = datetime.now(UTC)
    return [
        {
            "key": k,
            "step": s,
            "value": 1.0 / (s + 1),
            "timestamp": (start + timedelta(milliseconds=i)).isoformat(),
        }
        for i, s in enumerate(range(first_step, first_step + steps))
        for k in KEYS
    ]


def batch_body(first_step: int, steps: int, wire: str = "series") -> bytes:
    """A batch's request body as the client library writes it (`wire="points"`: one object per point)."""
    points = batch_points(first_step, steps)
    return json.dumps(series_body(points) if wire == "series" else {"metrics": points}).encode()


def one_client(url: str, run_id: int, batch: int, start_at: float, stop_at: float) -> ClientResult:
    """Log batches to `run_id` from `start_at` until `stop_at` (wall-clock seconds); resend failed ones."""
    result = ClientResult(run_id)
    steps = max(batch // len(KEYS), 1)
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url + "/api/v1", timeout=120) as http:
        time.sleep(max(start_at - time.time(), 0))
        step = 1
        body = batch_body(step, steps)
        while time.time() < stop_at:
            began = time.perf_counter()
            try:
                response = http.post(f"/runs/{run_id}/metrics", content=body, headers=headers)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            result.latencies_s.append(time.perf_counter() - began)
            result.requests += 1
            if not ok:
                result.failures += 1
                continue  # the same batch again: stored once however often it arrives
            result.points += steps * len(KEYS)
            step += steps
            body = batch_body(step, steps)
    return result


def client_process(
    url: str, run_ids: list[int], batch: int, start_at: float, stop_at: float
) -> list[ClientResult]:
    """One process's share of the clients, one thread each."""
    results: list[ClientResult] = []
    lock = threading.Lock()

    def target(run_id: int) -> None:
        outcome = one_client(url, run_id, batch, start_at, stop_at)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=target, args=(run_id,)) for run_id in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_counts(database_url: str, run_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Rows and distinct (key, step) pairs in metric_points for each run."""
    engine = h.engine_for(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT run_id, COUNT(*), COUNT(DISTINCT (key, step)) FROM metric_points "
                "WHERE run_id = ANY(:ids) GROUP BY run_id"
            ),
            {"ids": run_ids},
        ).all()
    engine.dispose()
    return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--batch", type=int, default=100, help="points per request (10 keys x batch/10 steps)"
    )
    parser.add_argument(
        "--processes", type=int, default=5, help="client processes the threads are spread over"
    )
    args = parser.parse_args()
    print(f"machine: {h.machine()}")
    work = h.workdir()
    with (
        h.backend("postgresql", work, "load") as db,
        h.our_server(db.url, work / "home", work / "server.log") as server,
    ):
        with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as http:
            name = f"load-{uuid.uuid4().hex[:6]}"
            project = http.post("/projects", json={"name": name, "dataset": "external"}).json()["id"]
            run_ids = [
                int(http.post("/runs", json={"project_id": project, "external": True}).json()["id"])
                for _ in range(args.clients)
            ]
        shares = [run_ids[i :: args.processes] for i in range(args.processes)]
        start_at = time.time() + 3  # every process up and connected before the clock starts
        stop_at = start_at + args.seconds
        cpu_before = cpu_seconds(server.pid)
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            parts = pool.starmap(
                client_process,
                [(server.url, share, args.batch, start_at, stop_at) for share in shares if share],
            )
        elapsed = max(time.time(), stop_at) - start_at
        server_cpu = cpu_seconds(server.pid) - cpu_before
        results = [r for part in parts for r in part]
        stored = stored_counts(db.url, run_ids)

    points = sum(r.points for r in results)
    requests = sum(r.requests for r in results)
    failures = sum(r.failures for r in results)
    latencies_ms = np.array([s for r in results for s in r.latencies_s]) * 1000
    print(
        f"{args.clients} clients x {args.seconds:.0f} s, {args.batch}-point batches, "
        f"{args.processes} client processes, one server process on PostgreSQL"
    )
    p50, p99 = np.percentile(latencies_ms, [50, 99])
    print(
        f"throughput: {points / elapsed:,.0f} points/s, {requests / elapsed:,.1f} requests/s "
        f"({failures} failed)"
    )
    print(f"latency: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {latencies_ms.max():.0f} ms")
    print(f"server CPU: {server_cpu / elapsed:.2f} cores on average")
    rows = sum(n for n, _ in stored.values())
    wrong = [
        (r.run_id, r.points, stored.get(r.run_id, (0, 0)))
        for r in results
        if stored.get(r.run_id, (0, 0)) != (r.points, r.points)
    ]
    print(f"metric_points rows: {rows:,} for {points:,} points sent")
    print("exactly once: " + ("PASS" if not wrong and rows == points else f"FAIL {wrong[:5]}"))


if __name__ == "__main__":
    main()
