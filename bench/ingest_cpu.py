"""Server CPU time per metric batch: `trainboard serve` (one process, SQLite or PostgreSQL) takes N batches of
1,000 points from one client, and the server process's own CPU time (user + system, from /proc) is divided
by N. Less sensitive than wall time to other load on the machine, so checkouts can be compared on a busy
one, side by side in one run (`--checkout` repeats; each serves its own code with this interpreter):

    .venv/bin/python bench/ingest_cpu.py [--checkout DIR ...] [--wire series --wire points] [--batches 400]
        [--rounds 3] [--database sqlite]

Batches go as the client library sends them (`--wire series`, columns per key) unless `--wire points` (one
object per point) is asked for; several `--wire` compare the forms in the same run. Each line also gives
the client's round trip per batch (one closed-loop client) and the points per second that makes.

It also measures the bare limit's CPU per batch: the same 1,000 rows written straight into metric_points
with executemany in one transaction, through an engine made as the server makes its own (WAL,
synchronous=NORMAL). On one core the server cannot beat 1,000 points per its CPU per batch, so the ratio of
the two CPU figures bounds its share of the bare limit whatever else the machine is running.

`--profile FILE` instead runs the app in this process under cProfile (ASGI called directly: no TestClient
threads) and writes the stats, for `python -m pstats FILE`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import _harness as h  # noqa: E402
from bench.ingest_limit import INSERT_SQLITE, rows  # noqa: E402
from bench.load import KEYS, WIRES, batch_body  # noqa: E402

WARMUP = 50


def server_cpu_ms(
    checkout: Path, kind: str, batches: int, points: int = 1000, wire: str = "series"
) -> tuple[float, float]:
    """Medians over chunks of `batches` / 4 requests of the server's CPU milliseconds per batch, and of the
    client's wall-clock milliseconds per batch (one closed-loop client: the whole round trip)."""
    work = h.workdir()
    steps = max(points // len(KEYS), 1)
    bodies = [batch_body(1 + i * steps, steps, wire) for i in range(WARMUP + batches)]
    with h.backend(kind, work, "cpu") as db:
        env_root = h.ROOT
        h.ROOT = checkout  # the server runs the checkout's code (cwd first on sys.path with -m)
        try:
            with h.our_server(db.url, work / "home", work / "server.log") as server:
                process = psutil.Process(server.pid)
                with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as http:
                    project = http.post("/projects", json={"name": "cpu", "dataset": "external"}).json()
                    run = http.post("/runs", json={"project_id": project["id"], "external": True}).json()
                    url = f"/runs/{run['id']}/metrics"
                    headers = {"content-type": "application/json"}
                    per_batch, wall = [], []
                    chunk = max(batches // 4, 1)
                    start = began = 0.0
                    for i, body in enumerate(bodies):
                        if i >= WARMUP and (i - WARMUP) % chunk == 0:
                            if i > WARMUP:
                                per_batch.append(_cpu(process) - start)
                                wall.append(time.perf_counter() - began)
                            start, began = _cpu(process), time.perf_counter()
                        response = http.post(url, content=body, headers=headers)
                        assert response.status_code == 200, response.text
                    per_batch.append(_cpu(process) - start)
                    wall.append(time.perf_counter() - began)
        finally:
            h.ROOT = env_root
    return statistics.median(per_batch) / chunk * 1000, statistics.median(wall) / chunk * 1000


def bare_cpu_ms(batches: int) -> float:
    """This process's CPU milliseconds per 1,000-row executemany + commit into a fresh SQLite database."""
    from sqlalchemy.orm import Session

    from server.db import make_engine
    from server.migrate import upgrade
    from server.tables import Project, Run

    engine = make_engine(f"sqlite:///{h.workdir()}/bare.db")
    upgrade(engine)
    with Session(engine) as session:
        project = Project(name="bare", dataset="external", satisficing=[])
        session.add(project)
        session.flush()
        run = Run(project_id=project.id, name="bare", status="running", external=True)
        session.add(run)
        session.commit()
        run_id = run.id
    steps = 1000 // len(KEYS)
    columns = ("run_id", "key", "step", "value", "timestamp")
    batches_rows = [
        [
            tuple(str(r[c]) if c == "timestamp" else r[c] for c in columns)
            for r in rows(run_id, 1 + i * steps, steps)
        ]
        for i in range(WARMUP + batches)
    ]
    raw = engine.raw_connection()
    spent = 0.0
    for i, values in enumerate(batches_rows):
        began = time.process_time()
        raw.cursor().executemany(INSERT_SQLITE, values)
        raw.commit()
        if i >= WARMUP:
            spent += time.process_time() - began
    raw.close()
    engine.dispose()
    return spent / batches * 1000


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def profile(out: str, kind: str, batches: int) -> None:
    """Run `batches` requests through the app in this process under cProfile; write the stats to `out`."""
    work = tempfile.mkdtemp()
    with h.backend(kind, Path(work), "prof") as db:
        os.environ.update(TRAINBOARD_HOME=work, TRAINBOARD_DATABASE_URL=db.url)
        from server.app import create_app
        from server.migrate import upgrade

        upgrade(h.engine_for(db.url))
        app = create_app(run_reaper=False)
        transport = httpx.ASGITransport(app=app)

        async def drive() -> None:
            async with httpx.AsyncClient(transport=transport, base_url="http://t/api/v1") as http:
                project = (await http.post("/projects", json={"name": "p", "dataset": "external"})).json()
                run = (await http.post("/runs", json={"project_id": project["id"], "external": True})).json()
                url = f"/runs/{run['id']}/metrics"
                steps = 1000 // len(KEYS)
                headers = {"content-type": "application/json"}
                bodies = [batch_body(1 + i * steps, steps) for i in range(WARMUP + batches)]
                for body in bodies[:WARMUP]:
                    assert (await http.post(url, content=body, headers=headers)).status_code == 200
                profiler = cProfile.Profile()
                profiler.enable()
                for body in bodies[WARMUP:]:
                    await http.post(url, content=body, headers=headers)
                profiler.disable()
                profiler.dump_stats(out)

        asyncio.run(drive())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkout", action="append", type=Path, help="checkouts to compare (default: this)")
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per checkout")
    parser.add_argument("--points", type=int, default=1000, help="points per batch (a multiple of 10)")
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--wire",
        action="append",
        choices=WIRES,
        help="batch forms to compare (default: series, the client's)",
    )
    parser.add_argument("--profile", help="write a cProfile of the in-process app here instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.database, args.batches)
        return
    checkouts = [c.resolve() for c in args.checkout or [ROOT]]
    print(f"machine: {h.machine()}")
    git = ["git", "rev-parse", "--short", "HEAD"]
    commits = {c: subprocess.run(git, cwd=c, capture_output=True, text=True).stdout for c in checkouts}
    wires = args.wire or ["series"]
    results: dict[tuple[Path, str], list[tuple[float, float]]] = {
        (c, w): [] for c in checkouts for w in wires
    }
    bare: list[float] = []
    for _ in range(args.rounds):
        if args.database == "sqlite" and args.points == 1000:
            bare.append(bare_cpu_ms(args.batches))
        for checkout, wire in results:
            figure = server_cpu_ms(checkout, args.database, args.batches, args.points, wire)
            results[checkout, wire].append(figure)
    if bare:
        shown = ", ".join(f"{f:.2f}" for f in bare)
        print(
            f"sqlite bare executemany: CPU per 1,000-row batch "
            f"median {statistics.median(bare):.2f} ms (rounds: {shown})"
        )
    for (checkout, wire), measured in results.items():
        figures = [cpu for cpu, _ in measured]
        shown = ", ".join(f"{f:.2f}" for f in figures)
        wall = statistics.median(w for _, w in measured)
        print(
            f"{args.database} {checkout} ({commits[checkout].strip()}), batches as {wire}: "
            f"server CPU per {args.points:,}-point batch "
            f"median {statistics.median(figures):.2f} ms (rounds: {shown}); "
            f"round trip {wall:.2f} ms, {args.points / wall * 1000:,.0f} points/s"
            + (
                f"; bare / server CPU {statistics.median(bare) / statistics.median(figures):.0%}"
                if bare
                else ""
            )
        )


if __name__ == "__main__":
    main()
