"""Shared pieces of bench/vs_mlflow.py and bench/scale.py: servers as real processes, throw-away
databases, direct fills of our tables, and timing helpers. No assertions on time: the scripts print
figures."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import Engine, create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("TRAINBOARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_OPTIONS = "?options=-csearch_path%3D"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> str:
    """One line naming the machine: CPU model, cores, memory, OS and Python."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{mem_kb / 2**20:.0f} GiB"
    except OSError:
        memory = "? GiB"
    system = f"{platform.system()} {platform.release()}"
    return f"{model}, {os.cpu_count()} cores, {memory}, {system}, Python {platform.python_version()}"


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def median_s(call: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of `call` in seconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"no answer from {url} after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Server:
    url: str
    pid: int


@contextmanager
def our_server(
    database_url: str, home: Path, log: Path, settings: dict[str, str] | None = None, workers: int = 1
) -> Iterator[Server]:
    """`trainboard serve` (`workers` uvicorn processes, migrating first) on a free loopback port; `settings`
    adds TRAINBOARD_* variables."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINBOARD_")}
    env.update(
        TRAINBOARD_HOME=str(home),
        TRAINBOARD_DATABASE_URL=database_url,
        TRAINBOARD_SERVER_URL=f"http://127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings or {})
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "trainboard.cli", "serve", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health", process, log)
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        stop(process)


@dataclass
class Backend:
    """One database of one kind for one server: its SQLAlchemy URL, and how to drop it afterwards."""

    kind: str  # "sqlite" or "postgresql"
    url: str  # SQLAlchemy URL for our server
    plain_url: str  # driver-less URL (MLflow's form)
    schema: str | None = None


@contextmanager
def backend(kind: str, workdir: Path, name: str) -> Iterator[Backend]:
    """A fresh SQLite file, or a throw-away PostgreSQL schema dropped at the end."""
    if kind == "sqlite":
        path = workdir / f"{name}.db"
        yield Backend(kind, f"sqlite:///{path}", f"sqlite:///{path}")
        return
    schema = f"tb_bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    options = ADMIN_OPTIONS + schema
    try:
        yield Backend(
            kind,
            POSTGRES.replace("postgresql://", "postgresql+psycopg://") + options,
            POSTGRES + options,
            schema,
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tb-bench-"))


# ---------------------------------------------------------------- direct fills of our database


def engine_for(url: str) -> Engine:
    return create_engine(url)


def fill_runs(engine: Engine, project_id: int, n_runs: int, seed: int = 0) -> None:
    """n_runs finished runs, each with 5 params and 5 summary metrics, inserted with Core."""
    from server.tables import Run, RunSummary

    rng = np.random.default_rng(seed)
    start = datetime.now(UTC) - timedelta(days=30)
    keys = ("train_error", "train_dev_error", "dev_error", "test_error", "dev_loss")
    with engine.begin() as conn:
        first = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM runs")).scalar_one() + 1
        for lo in range(0, n_runs, 2000):
            ids = range(first + lo, first + min(lo + 2000, n_runs))
            runs = [
                {
                    "id": i,
                    "project_id": project_id,
                    "name": f"run-{i}",
                    "status": "succeeded",
                    "external": True,
                    "config": {},
                    "params": {
                        "lr": float(rng.uniform(1e-4, 1e-1)),
                        "batch_size": int(rng.choice([32, 64, 128])),
                        "l2": float(rng.uniform(0, 1e-2)),
                        "keep_prob": float(rng.uniform(0.5, 1)),
                        "optimizer": "adam",
                    },
                    "attempt": 1,
                    "created_at": start + timedelta(seconds=int(i)),
                    "started_at": start + timedelta(seconds=int(i)),
                    "finished_at": start + timedelta(seconds=int(i) + 60),
                }
                for i in ids
            ]
            conn.execute(insert(Run), runs)
            conn.execute(
                insert(RunSummary),
                [
                    {"run_id": i, "key": k, "step": 10, "value": float(rng.uniform(0.01, 0.5))}
                    for i in ids
                    for k in keys
                ],
            )
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT MAX(id) FROM runs))")
            )
            conn.execute(text("ANALYZE runs; ANALYZE run_summaries"))
        else:
            conn.execute(text("ANALYZE"))


def post_series(http: httpx.Client, run_id: int, keys: list[str], steps: int, batch: int = 20_000) -> float:
    """Log `steps` points of each key through the REST API in `batch`-point requests (so the server
    builds its rollups the way it does in production); returns points per second."""
    rng = np.random.default_rng(0)
    start, sent = time.perf_counter(), 0
    per_batch = max(batch // len(keys), 1)
    for first in range(0, steps, per_batch):
        last = min(first + per_batch, steps)
        noise = rng.normal(0, 0.01, (last - first) * len(keys)).tolist()
        points = ",".join(
            f'{{"key":"{k}","step":{s},"value":{1 / (1 + s / 1000) + noise[i * len(keys) + j]!r}}}'
            for i, s in enumerate(range(first, last))
            for j, k in enumerate(keys)
        )
        response = http.post(
            f"/api/v1/runs/{run_id}/metrics",
            content=f'{{"metrics":[{points}]}}'.encode(),
            headers={"content-type": "application/json"},
        )
        response.raise_for_status()
        sent += (last - first) * len(keys)
    return sent / (time.perf_counter() - start)
