"""Server time of the error-analysis page and its queries on a run with 100,000 dev predictions.

Times (median of --repeats after one warm-up) the service calls behind the table (first page, filtered
pages), the counts and cohorts, and the whole page and API through the app, on SQLite (a temp file) and on
PostgreSQL (a throw-away schema, skipped when unreachable). Prints SQLite's query plan for the first page.

    .venv/bin/python bench/error_analysis.py [--predictions 100000] [--repeats 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator

os.environ.setdefault("TRAINBOARD_HOME", tempfile.mkdtemp(prefix="tb-bench-"))

import numpy as np  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, create_engine, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from server.app import create_app  # noqa: E402
from server.db import get_session, make_engine  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.schemas import PredictionIn  # noqa: E402
from server.services import analysis, error_report, predictions, tags  # noqa: E402
from server.tables import Prediction, Project, Run  # noqa: E402

TAGS = ("blurry", "mislabeled", "thin strokes", "rotated", "cropped")


def _seed(session: Session, n: int) -> int:
    """A project and a run with n dev predictions (about 25 % wrong), 2,000 errors tagged."""
    project = Project(name=f"bench-{uuid.uuid4().hex[:6]}", dataset="external", satisficing=[])
    session.add(project)
    session.flush()
    run = Run(project_id=project.id, name="bench", status="succeeded", config={}, params={})
    session.add(run)
    session.commit()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    wrong = rng.random(n) < 0.25
    guesses = np.where(wrong, (labels + rng.integers(1, 10, n)) % 10, labels)
    confidence = rng.uniform(0.1, 1.0, n)
    rows = [
        PredictionIn(
            example_id=f"ex-{i}", label=int(y), predicted=int(p), confidence=float(c), loss=float(-np.log(c))
        )
        for i, (y, p, c) in enumerate(zip(labels, guesses, confidence, strict=True))
    ]
    start = time.perf_counter()
    predictions.ingest_predictions(session=session, run_id=run.id, split="dev", predictions=rows)
    print(f"  ingest {n:,} predictions: {time.perf_counter() - start:.2f} s")
    errors = [f"ex-{i}" for i in np.flatnonzero(wrong)[:2000]]
    for k, name in enumerate(TAGS):
        tags.bulk_update_tags(
            session=session, project_id=project.id, example_ids=errors[k::3], add=[name], remove=[]
        )
    return run.id


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _cases(session: Session, client: TestClient, run_id: int) -> dict[str, Callable[[], object]]:
    def errors(**filters: object) -> Callable[[], object]:
        return lambda: predictions.list_errors(
            session=session, run_id=run_id, split="dev", limit=50, **filters
        )

    def counts() -> object:
        return analysis.analyse_run_errors(session=session, run_id=run_id, split="dev")

    def cohorts() -> object:
        found = counts()
        return error_report.error_cohorts(session=session, run_id=run_id, split="dev", analysis=found)

    def get(url: str) -> Callable[[], object]:
        def call() -> object:
            response = client.get(url)
            assert response.status_code == 200, response.text[:300]
            return response

        return call

    return {
        "table: first page (most confident first)": errors(),
        "table: page 200 (offset 10,000)": errors(offset=10_000),
        "table: filtered label=3, predicted=5": errors(label="3", predicted="5"),
        "table: filtered tag=blurry": errors(tag="blurry"),
        "table: filtered untagged, sort by loss": errors(untagged=True, sort="-loss"),
        "table: confidence 0.9-1.0": errors(min_confidence=0.9, max_confidence=1.0),
        "counts (error-analysis)": counts,
        "counts + cohorts": cohorts,
        "API GET /errors": get(f"/api/v1/runs/{run_id}/errors?split=dev"),
        "API GET /error-analysis": get(f"/api/v1/runs/{run_id}/error-analysis?split=dev"),
        "page GET /runs/{id}/errors": get(f"/runs/{run_id}/errors?split=dev"),
        "page, filtered label=3": get(f"/runs/{run_id}/errors?split=dev&label=3"),
    }


def _bench(name: str, engine: Engine, n: int, repeats: int) -> dict[str, float]:
    print(f"{name}:")
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        run_id = _seed(session, n)
        if engine.dialect.name == "sqlite":
            query = (
                select(Prediction)
                .where(Prediction.run_id == run_id, Prediction.split == "dev", Prediction.is_error.is_(True))
                .order_by(Prediction.confidence.desc().nulls_last(), Prediction.example_id)
                .limit(50)
            )
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            plan = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
            print("  query plan of the first page:", "; ".join(row[-1] for row in plan))

    def one_session() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as request_session:
            yield request_session

    app = create_app(run_reaper=False)
    app.dependency_overrides[get_session] = one_session
    with TestClient(app) as client, Session(engine, expire_on_commit=False) as session:
        return {case: _time(fn, repeats) for case, fn in _cases(session, client, run_id).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        results["SQLite"] = _bench("SQLite", engine, args.predictions, args.repeats)
        engine.dispose()
    schema = f"tb_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.postgres)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - a missing server only skips this column
        print(f"PostgreSQL skipped: {exc.__class__.__name__}")
    else:
        engine = create_engine(args.postgres, connect_args={"options": f"-csearch_path={schema}"})
        try:
            results["PostgreSQL"] = _bench("PostgreSQL", engine, args.predictions, args.repeats)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
    names = list(results)
    print(f"\n| {args.predictions:,} dev predictions, median ms | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for case in next(iter(results.values())):
        print(f"| {case} | " + " | ".join(f"{results[n][case]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
