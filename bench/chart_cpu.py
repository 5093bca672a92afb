"""Chart reads (issue 23) and the filtered runs table (issue 19) in CPU time, two checkouts side by side.

On a shared machine wall times follow the other load; the CPU time a request costs does not, much. This
times the same requests against the same filled database on a real `trainboard serve` started from each
checkout in turn (alternating, `--rounds` times), and reports per request: the median wall time, the
server process's CPU time and the database's (the PostgreSQL backends serving the server, found by their
application_name; 0 on SQLite, whose work is inside the server process).

    .venv/bin/python bench/chart_cpu.py --url URL --info info.json --checkout /path/a --checkout /path/b

`--info` names what to read (written by the fill that made the database): {"many": run id with keys
metric_00..metric_49, "compare": [run ids with metric_00..04], "lengths": {"1000": run id with "loss"},
"project": project id with runs from bench/_harness.fill_runs (for the table)}. `--fill` makes it first: the
database at `--url` (an empty SQLite file, or an existing empty PostgreSQL schema named in the URL's
search_path) is migrated and filled through the REST API of a server from this checkout, as
bench/scale.py fills (add `--lengths 1,...,1e7` for one series per length, `--runs 10000` for the table):

    .venv/bin/python bench/chart_cpu.py --url URL --info info.json --checkout . --fill --lengths 1e3,1e6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h  # noqa: E402
from bench.scale import TABLE_COLUMNS, TABLE_FILTERS  # noqa: E402

APPLICATION = "tb_chart_cpu"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_pids(admin: sa.Engine | None) -> list[int]:
    if admin is None:
        return []
    with admin.connect() as connection:
        query = sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
        return list(connection.scalars(query, {"name": APPLICATION}))


def database_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def measure(
    http: httpx.Client, pid: int, admin: sa.Engine | None, path: str, repeats: int, params: dict[str, Any]
) -> tuple[float, float, float]:
    """Median wall ms, server CPU ms and database CPU ms per request of GET path."""
    response = http.get(path, params=params)  # warm: opens the pool's connections
    assert response.status_code == 200, response.text[:300]
    pids = backend_pids(admin)
    walls = []
    server, database = cpu_seconds(pid), database_cpu(pids)
    for _ in range(repeats):
        start = time.perf_counter()
        http.get(path, params=params)
        walls.append(time.perf_counter() - start)
    server, database = cpu_seconds(pid) - server, database_cpu(pids) - database
    return statistics.median(walls) * 1000, server * 1000 / repeats, database * 1000 / repeats


def requests(info: dict[str, Any], only: str) -> list[tuple[str, str, dict[str, Any]]]:
    keys = [f"metric_{i:02d}" for i in range(50)]
    found: list[tuple[str, str, dict[str, Any]]] = []
    if only in ("all", "charts"):
        if "many" in info:
            found.append(
                (
                    "all 50 series of a run, one request",
                    f"/api/v1/runs/{info['many']}/metrics",
                    {"keys": ",".join(keys), "max_points": 2000},
                )
            )
        if "compare" in info:
            runs = ",".join(map(str, info["compare"]))
            found.append(
                (
                    "compare: 10 runs x 5 keys, one request",
                    "/api/v1/metrics",
                    {"run_ids": runs, "keys": ",".join(keys[:5]), "max_points": 2000},
                )
            )
        for n, run in dict(info.get("lengths", {})).items():
            found.append(
                (f"one series of {int(n):,} points", f"/api/v1/runs/{run}/metrics/loss", {"max_points": 2000})
            )
    if only in ("all", "table") and "project" in info:
        for q in TABLE_FILTERS:
            found.append(
                (
                    f"project page, 10 columns, q={q}",
                    f"/projects/{info['project']}",
                    {"q": q, "col": TABLE_COLUMNS},
                )
            )
        found.append(
            ("project page, 10 columns, no filter", f"/projects/{info['project']}", {"col": TABLE_COLUMNS})
        )
    return found


def fill(url: str, steps: int, lengths: list[int], runs: int) -> dict[str, Any]:
    """Migrate and fill the database at `url` (see the module's docstring); returns the info to read."""
    from server.migrate import upgrade

    engine = sa.create_engine(url)
    upgrade(engine)
    work = h.workdir()
    info: dict[str, Any] = {"lengths": {}}
    with h.our_server(url, work / "home", work / "server.log") as server:
        http = httpx.Client(base_url=server.url, timeout=600)
        project = http.post("/api/v1/projects", json={"name": "charts", "dataset": "external"}).json()["id"]

        def new_run() -> int:
            return int(http.post("/api/v1/runs", json={"project_id": project, "external": True}).json()["id"])

        keys = [f"metric_{i:02d}" for i in range(50)]
        info["many"] = new_run()
        h.post_series(http, info["many"], keys, steps)
        info["compare"] = [new_run() for _ in range(10)]
        for run_id in info["compare"]:
            h.post_series(http, run_id, keys[:5], steps // 5)
        for n in lengths:
            info["lengths"][str(n)] = new_run()
            h.post_series(http, info["lengths"][str(n)], ["loss"], n)
    if runs:
        info["project"] = project
        h.fill_runs(engine, project, runs)
    engine.dispose()
    return info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the filled database")
    parser.add_argument("--info", required=True, type=Path)
    parser.add_argument("--checkout", action="append", required=True, type=Path)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default="all", choices=["all", "charts", "table"])
    parser.add_argument("--fill", action="store_true", help="fill the database first, writing --info")
    parser.add_argument("--lengths", type=lambda t: [int(float(x)) for x in t.split(",")], default=[])
    parser.add_argument("--runs", type=int, default=0, help="with --fill: runs for the table")
    parser.add_argument("--steps", type=int, default=100_000, help="with --fill: steps of the 50 keys")
    args = parser.parse_args()
    if args.fill:
        args.info.write_text(json.dumps(fill(args.url, args.steps, args.lengths, args.runs)))
    info = json.loads(args.info.read_text())
    postgres = args.url.startswith("postgresql")
    url = (
        args.url + ("&" if "?" in args.url else "?") + f"application_name={APPLICATION}"
        if postgres
        else args.url
    )
    admin = (
        sa.create_engine(h.POSTGRES.replace("postgresql://", "postgresql+psycopg://")) if postgres else None
    )
    print(f"machine: {h.machine()}; load average {os.getloadavg()[0]:.1f}")
    results: dict[tuple[str, Path], list[tuple[float, float, float]]] = {}
    work = h.workdir()
    for _ in range(args.rounds):
        for checkout in args.checkout:
            port = h.free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINBOARD_")}
            env.update(
                TRAINBOARD_HOME=str(work / "home"), TRAINBOARD_DATABASE_URL=url, PYTHONPATH=str(checkout)
            )
            log = work / "server.log"
            with log.open("ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "trainboard.cli", "serve", "--port", str(port)],
                    cwd=checkout,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                h.wait_http(f"http://127.0.0.1:{port}/api/v1/health", process, log)
                http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)
                for name, path, params in requests(info, args.only):
                    figures = measure(http, process.pid, admin, path, args.repeats, params)
                    results.setdefault((name, checkout), []).append(figures)
            finally:
                h.stop(process)
    print(f"load average after {os.getloadavg()[0]:.1f}; per request, best of {args.rounds} rounds' figures")
    print(
        "| request | "
        + " | ".join(f"{c.resolve().name}: wall (server CPU + database CPU)" for c in args.checkout)
        + " |"
    )
    print("|---|" + "---|" * len(args.checkout))
    for name, _, _ in requests(info, args.only):
        cells = []
        for checkout in args.checkout:
            rounds = results[name, checkout]
            wall = min(r[0] for r in rounds)
            server = min(r[1] for r in rounds)
            database = min(r[2] for r in rounds)
            cells.append(f"{wall:.1f} ms ({server:.1f} + {database:.1f} ms)")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if admin is not None:
        admin.dispose()


if __name__ == "__main__":
    main()
