"""CPU time per run-list request, in one process: GET /api/v1/runs?sort=dev_error&limit=50 over 2,000 runs.

Less sensitive than wall time to other load on the machine, so two checkouts can be compared on a busy one:

    cd <checkout> && PYTHONPATH=$PWD .venv/bin/python bench/run_list_cpu.py sqlite|postgresql

Starlette's TestClient hands every ASGI message between two threads, which magnifies per-message costs
(middleware) that uvicorn does not pay; bench/vs_mlflow.py measures the real server."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid

import sqlalchemy as sa

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RUNS, WARMUP, SAMPLES = 2000, 20, 300


def main(kind: str) -> None:
    work = tempfile.mkdtemp()
    schema = "bench_list_" + uuid.uuid4().hex[:8]
    if kind == "sqlite":
        url = f"sqlite:///{work}/bench.db"
    else:
        with sa.create_engine(POSTGRES).begin() as connection:
            connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    os.environ.update(TRAINBOARD_HOME=work, TRAINBOARD_DATABASE_URL=url)
    # Imported once the settings point at the throw-away database.
    import _harness as h
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.migrate import upgrade

    engine = sa.create_engine(url)
    upgrade(engine)
    try:
        with TestClient(create_app(run_reaper=False)) as client:
            project = client.post("/api/v1/projects", json={"name": "p", "dataset": "external"}).json()["id"]
            h.fill_runs(engine, project, RUNS)
            params = {"project_id": project, "sort": "dev_error", "limit": 50}
            for _ in range(WARMUP):
                client.get("/api/v1/runs", params=params)
            cpu = []
            for _ in range(SAMPLES):
                start = time.process_time()
                response = client.get("/api/v1/runs", params=params)
                cpu.append(time.process_time() - start)
                assert response.status_code == 200, response.text
        low = sorted(cpu)[SAMPLES // 10]
        print(
            f"{kind} {os.getcwd()}: run list, {RUNS:,} runs, 50 by dev_error: "
            f"median CPU {statistics.median(cpu) * 1000:.2f} ms, p10 {low * 1000:.2f} ms"
        )
    finally:
        engine.dispose()
        if kind != "sqlite":
            with sa.create_engine(POSTGRES).begin() as connection:
                connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv[1] if len(sys.argv) > 1 else "sqlite")
