"""Ingestion near the database's own limit: the same metric rows written straight into `metric_points` (the
bare limit: executemany, and COPY on PostgreSQL, one transaction per batch) and through Trainboard's REST
API (closed-loop clients of bench/load.py) with 1, 2 and 4 server processes on PostgreSQL and 1 on SQLite,
in the same run and batch size; prints each figure and its ratio to the bare limit.

On SQLite the bare writer runs with the server's own settings (server.db.make_engine: WAL,
synchronous=NORMAL, foreign keys), the limit the server could reach; SQLite's defaults (a rollback journal
and an fsync per commit, about half as fast) are printed too, for the figures measured before. `--checkout`
(repeatable) serves another checkout's code for the REST figures, so a branch and main are compared in the
same run against the same bare limit.

    .venv/bin/python bench/ingest_limit.py [--batch 1000] [--seconds 20] [--clients 8] [--processes 1,2,4]
        [--databases sqlite,postgresql] [--checkout DIR ...]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h  # noqa: E402
from bench.load import KEYS, client_process  # noqa: E402
from server.db import make_engine  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.tables import Project, Run  # noqa: E402

INSERT_SQLITE = "INSERT INTO metric_points (run_id, key, step, value, timestamp) VALUES (?, ?, ?, ?, ?)"
INSERT_POSTGRES = (
    "INSERT INTO metric_points (run_id, key, step, value, timestamp) VALUES (%s, %s, %s, %s, %s)"
)
COPY_POSTGRES = "COPY metric_points (run_id, key, step, value, timestamp) FROM STDIN"


def rows(run_id: int, first_step: int, steps: int) -> list[dict[str, object]]:
    stamp = datetime.now(UTC)
    return [
        {"run_id": run_id, "key": k, "step": s, "value": 1.0 / (s + 1), "timestamp": stamp}
        for s in range(first_step, first_step + steps)
        for k in KEYS
    ]


def bare_limit(
    database_url: str, batch: int, seconds: float, copy: bool, server_settings: bool = True
) -> float:
    """Points/s written straight into metric_points, one transaction per `batch` rows, for `seconds`; with
    `server_settings`, through an engine made as the server makes its own."""
    engine = make_engine(database_url) if server_settings else h.engine_for(database_url)
    upgrade(engine)
    with Session(engine) as session:  # the points' run (SQLite keeps the foreign key)
        project = Project(name="bare", dataset="external", satisficing=[])
        session.add(project)
        session.flush()
        run = Run(project_id=project.id, name="bare", status="running", external=True)
        session.add(run)
        session.commit()
        run_id = run.id
    steps, step, written = max(batch // len(KEYS), 1), 1, 0
    # The driver's own calls, as a tuned writer would make them: no SQLAlchemy in between.
    raw = engine.raw_connection()
    columns = ("run_id", "key", "step", "value", "timestamp")
    sqlite = engine.dialect.name == "sqlite"
    statement = INSERT_SQLITE if sqlite else INSERT_POSTGRES
    write: Callable[[list[dict[str, object]]], None]
    if copy:

        def write(batch_rows: list[dict[str, object]]) -> None:
            cursor = raw.cursor()
            with cursor.copy(COPY_POSTGRES) as out:  # type: ignore[attr-defined]
                for row in batch_rows:
                    out.write_row([row[c] for c in columns])
            raw.commit()
    else:

        def write(batch_rows: list[dict[str, object]]) -> None:
            # SQLite keeps SQLAlchemy's DateTime as text: the same text here.
            values = [
                tuple(str(row[c]) if sqlite and c == "timestamp" else row[c] for c in columns)
                for row in batch_rows
            ]
            raw.cursor().executemany(statement, values)
            raw.commit()

    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        batch_rows = rows(run_id, step, steps)
        write(batch_rows)
        written += len(batch_rows)
        step += steps
    elapsed = time.perf_counter() - began
    raw.close()
    engine.dispose()
    return written / elapsed


def rest(database_url: str, work: Path, processes: int, args: argparse.Namespace, checkout: Path) -> float:
    """Points/s through POST /runs/{id}/metrics from `args.clients` closed-loop clients, served by the code
    of `checkout`."""
    name = uuid.uuid4().hex[:6]
    h.ROOT = checkout  # our_server runs `python -m trainboard.cli` there: that checkout's code
    with h.our_server(
        database_url, work / f"home-{name}", work / f"server-{name}.log", workers=processes
    ) as server:
        with httpx.Client(base_url=server.url + "/api/v1", timeout=60) as http:
            project = http.post("/projects", json={"name": f"limit-{name}", "dataset": "external"}).json()[
                "id"
            ]
            run_ids = [
                int(http.post("/runs", json={"project_id": project, "external": True}).json()["id"])
                for _ in range(args.clients)
            ]
        start_at = time.time() + 2
        stop_at = start_at + args.seconds
        shares = [run_ids[i :: args.client_processes] for i in range(args.client_processes)]
        with multiprocessing.get_context("spawn").Pool(args.client_processes) as pool:
            results = pool.starmap(
                client_process,
                [(server.url, share, args.batch, start_at, stop_at) for share in shares if share],
            )
    return sum(r.points for share in results for r in share) / args.seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--processes", default="1,2,4", help="server process counts to try on PostgreSQL")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--checkout", action="append", type=Path, help="checkouts to serve (default: this)")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkout or [h.ROOT]]
    print(f"machine: {h.machine()}")
    print(f"batch {args.batch} points, {args.seconds:g} s each, {args.clients} REST clients\n")
    work = h.workdir()
    print(f"{'database':10} {'writer':44} {'points/s':>10} {'of bare':>8}")
    for kind in args.databases.split(","):
        with h.backend(kind, work, "bare") as db:
            bare = bare_limit(db.url, args.batch, args.seconds, copy=False)
        print(f"{kind:10} {'bare executemany':44} {bare:>10,.0f} {'100 %':>8}")
        if kind == "sqlite":
            with h.backend(kind, work, "bare-defaults") as db:
                plain = bare_limit(db.url, args.batch, args.seconds, copy=False, server_settings=False)
            print(f"{kind:10} {'bare executemany, SQLite defaults':44} {plain:>10,.0f} {plain / bare:>7.0%}")
        if kind == "postgresql":
            with h.backend(kind, work, "copy") as db:
                copied = bare_limit(db.url, args.batch, args.seconds, copy=True)
            print(f"{kind:10} {'bare COPY':44} {copied:>10,.0f} {copied / bare:>7.0%}")
            bare = max(bare, copied)
        for processes in [1] if kind == "sqlite" else [int(p) for p in args.processes.split(",")]:
            for checkout in checkouts:
                with h.backend(kind, work, f"rest{processes}") as db:
                    served = rest(db.url, work, processes, args, checkout)
                label = f"REST, {processes} server process{'es' if processes > 1 else ''}"
                if len(checkouts) > 1:
                    label += f" ({checkout.name})"
                print(f"{kind:10} {label:44} {served:>10,.0f} {served / bare:>7.0%}")


if __name__ == "__main__":
    main()
