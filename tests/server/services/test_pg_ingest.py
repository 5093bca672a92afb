"""PostgreSQL ingestion as the server runs it: an engine-bound session, so a batch is one statement in
autocommit (the suite's other tests share one outer transaction, which keeps the statement in it).

Its own schema, because what these tests commit must not reach the other tests. Migration 0009 replaced
the points' and rollups' foreign keys by a lock on the run and a delete trigger: what the keys guaranteed
is checked here, concurrency included."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.migrate import downgrade, upgrade
from server.schemas import MetricPointIn
from server.services.metrics import ROLLUP_WIDTHS, ingest_metrics
from server.services.metrics.postgres_writer import store_batch
from server.tables import MetricPoint, MetricRollup, Run, RunSummary
from tests.backends import migrated_postgres_schema
from tests.factories import make_project, make_run

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with migrated_postgres_schema("tb_ingest") as engine:
        yield engine


def points(steps: range | list[int], keys: tuple[str, ...] = ("loss", "acc")) -> list[MetricPointIn]:
    return [MetricPointIn(key=k, step=s, value=1 / (s + 1)) for s in steps for k in keys]


def stored(engine: Engine, run_id: int) -> dict[str, int]:
    with Session(engine) as session:
        count = {
            table.__tablename__: session.scalar(
                select(func.count()).select_from(table).where(table.run_id == run_id)
            )
            for table in (MetricPoint, MetricRollup, RunSummary)
        }
    return count  # type: ignore[return-value]


def test_a_batch_then_a_resent_one_store_each_point_once_in_autocommit(engine: Engine) -> None:
    with Session(engine) as session:
        run_id = make_run(session, make_project(session), status="running").id
    with Session(engine) as session:
        assert ingest_metrics(session=session, run_id=run_id, points=points(range(100))) == 200
        assert not session.in_transaction()
    # Half of it again plus new steps: the plain INSERT meets the primary key, the retry skips stored ones.
    with Session(engine) as session:
        assert (
            ingest_metrics(session=session, run_id=run_id, points=points(range(50, 150))) == 100
        )  # new ones
    with Session(engine) as session:
        steps = session.scalars(
            select(MetricPoint.step).where(MetricPoint.run_id == run_id, MetricPoint.key == "loss")
        ).all()
        summary = session.execute(
            select(RunSummary.step, RunSummary.value).where(
                RunSummary.run_id == run_id, RunSummary.key == "loss"
            )
        ).one()
        finest = session.scalar(
            select(func.sum(MetricRollup.n)).where(
                MetricRollup.run_id == run_id, MetricRollup.key == "loss", MetricRollup.width == 64
            )
        )
        heartbeat = session.scalar(select(Run.heartbeat_at).where(Run.id == run_id))
    assert sorted(steps) == list(range(150))
    assert tuple(summary) == (149, 1 / 150)
    assert finest == 150  # re-sent points are not counted twice
    assert heartbeat is not None and datetime.now(UTC) - heartbeat < timedelta(minutes=1)


def test_every_value_and_step_is_stored_exactly(engine: Engine) -> None:
    """The batch's numbers travel as text: each must read back as the same float and the same integer."""
    values = [
        0.1 + 0.2,
        1 / 3,
        1e-300,
        5e-324,
        1.7976931348623157e308,
        -0.0,
        -2.5e-8,
        1e16,
        123456789.125,
        7.0,
    ]
    steps = [0, 1, 2**31, 2**53 + 1, 2**62, 10**15, 3, 4, 5, 6]
    with Session(engine) as session:
        run_id = make_run(session, make_project(session), status="running").id
        batch = [MetricPointIn(key="x", step=s, value=v) for s, v in zip(steps, values, strict=True)]
        assert ingest_metrics(session=session, run_id=run_id, points=batch) == len(batch)
    with Session(engine) as session:
        rows = session.execute(
            select(MetricPoint.step, MetricPoint.value).where(MetricPoint.run_id == run_id)
        ).all()
    assert {step: value for step, value in rows} == dict(zip(steps, values, strict=True))
    assert [math.copysign(1, value) for step, value in rows if step == 10**15] == [-1.0]  # -0.0 kept


def test_a_new_batch_and_one_that_resends_a_point_leave_the_same_rollups(engine: Engine) -> None:
    """A batch of new points brings rollups and summaries the server computed; one that re-sends a stored
    point has PostgreSQL compute them from what was new. Both must leave the same rows, ties included."""
    rng = np.random.default_rng(11)
    rows = [
        (key, int(step), float(rng.integers(0, 4)), None)  # few distinct values: many tied extremes
        for key in ("loss", "NULL")
        for step in rng.permutation(20_000)[:3000]
    ]
    resent = ("loss", rows[0][1], 1.5, None)  # a value no other point has: no tie with the batch's
    with Session(engine) as session:
        project = make_project(session)
        new_id, resent_id = make_run(session, project).id, make_run(session, project).id
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:

        def store(run_id: int, batch: list[tuple[str, int, float, None]]) -> int:
            result = store_batch(conn, run_id, batch, ROLLUP_WIDTHS, datetime.now(UTC))
            assert result is not None
            return result.stored

        assert store(resent_id, [resent]) == 1 and store(new_id, [resent]) == 1
        assert store(new_id, rows[1:]) == len(rows) - 1  # all new
        assert store(resent_id, rows) == len(rows) - 1  # re-sends its first point

    def kept(run_id: int) -> tuple[list[tuple], list[tuple]]:
        with Session(engine) as session:
            rollups = session.execute(
                select(
                    MetricRollup.key,
                    MetricRollup.width,
                    MetricRollup.bucket,
                    MetricRollup.n,
                    MetricRollup.min_step,
                    MetricRollup.min_value,
                    MetricRollup.max_step,
                    MetricRollup.max_value,
                )
                .where(MetricRollup.run_id == run_id)
                .order_by(MetricRollup.key, MetricRollup.width, MetricRollup.bucket)
            ).all()
            summaries = session.execute(
                select(RunSummary.key, RunSummary.step, RunSummary.value)
                .where(RunSummary.run_id == run_id)
                .order_by(RunSummary.key)
            ).all()
        return [tuple(r) for r in rollups], [tuple(s) for s in summaries]

    new_rollups, new_summaries = kept(new_id)
    assert sum(row[3] for row in new_rollups if row[1] == ROLLUP_WIDTHS[0]) == len(rows)
    assert (new_rollups, new_summaries) == kept(resent_id)


def test_a_batch_for_a_missing_run_is_404_and_stores_nothing(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(NotFound):
        ingest_metrics(session=session, run_id=987_654_321, points=points(range(10)))
    assert stored(engine, 987_654_321) == {"metric_points": 0, "metric_rollups": 0, "run_summaries": 0}


def test_aliases_rename_a_batch_in_autocommit_and_a_diverged_runs_checked_one(engine: Engine) -> None:
    with Session(engine) as session:
        project = make_project(session, metric_aliases={"val_error": "dev_error", "val_loss": "dev_loss"})
        run_id = make_run(session, project, status="running").id
    with Session(engine) as session:
        batch = [
            MetricPointIn(key="val_error", step=1, value=0.3),
            MetricPointIn(key="loss", step=1, value=1),
        ]
        assert ingest_metrics(session=session, run_id=run_id, points=batch) == 2
        assert not session.in_transaction()
    with Session(engine) as session:
        session.get(Run, run_id).status = "diverged"
        session.commit()
    with Session(engine) as session:  # a non-finite point takes the checked path, in a real transaction
        batch = [
            MetricPointIn(key="val_loss", step=2, value=2.0),
            MetricPointIn(key="val_loss", step=3, value=math.nan),
        ]
        assert ingest_metrics(session=session, run_id=run_id, points=batch) == 1
    with Session(engine) as session:
        rows = session.execute(select(RunSummary.key, RunSummary.value).where(RunSummary.run_id == run_id))
        summary = {key: value for key, value in rows}
    assert summary == {"dev_error": 0.3, "loss": 1.0, "dev_loss": 2.0}


def test_deleting_a_run_deletes_its_series(engine: Engine) -> None:
    with Session(engine) as session:
        project = make_project(session)
        project_id = project.id
        doomed, kept = make_run(session, project).id, make_run(session, project).id
    for run_id in (doomed, kept):
        with Session(engine) as session:
            ingest_metrics(session=session, run_id=run_id, points=points(range(300)))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM runs WHERE id = :id"), {"id": doomed})
    assert stored(engine, doomed) == {"metric_points": 0, "metric_rollups": 0, "run_summaries": 0}
    assert stored(engine, kept)["metric_points"] == 600
    # A project's runs go with it, and their series with them (one statement for all of its runs).
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM projects WHERE id = :id"), {"id": project_id})
    assert stored(engine, kept) == {"metric_points": 0, "metric_rollups": 0, "run_summaries": 0}


def test_a_run_deleted_while_a_batch_is_stored_leaves_no_points_behind(engine: Engine) -> None:
    """What the foreign key guaranteed: the batch's lock on the run makes a concurrent DELETE wait for it,
    and the DELETE's trigger then removes what the batch stored."""
    with Session(engine) as session:
        run_id = make_run(session, make_project(session), status="running").id
    batch = engine.connect()
    batch.begin()
    rows = [("loss", s, 0.5, None) for s in range(100)]
    assert store_batch(batch, run_id, rows, ROLLUP_WIDTHS, datetime.now(UTC)) is not None  # not committed
    deleted = threading.Event()

    def delete() -> None:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM runs WHERE id = :id"), {"id": run_id})
        deleted.set()

    deleter = threading.Thread(target=delete)
    deleter.start()
    time.sleep(0.5)
    assert not deleted.is_set(), "the DELETE must wait for the batch's transaction"
    batch.commit()
    batch.close()
    deleter.join(timeout=10)
    assert deleted.is_set()
    assert stored(engine, run_id) == {"metric_points": 0, "metric_rollups": 0, "run_summaries": 0}


def test_a_batch_after_its_run_was_deleted_stores_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        run_id = make_run(session, make_project(session)).id
    deleting = engine.connect()
    deleting.begin()
    deleting.execute(text("DELETE FROM runs WHERE id = :id"), {"id": run_id})
    result: list[object] = []

    def ingest() -> None:
        with engine.connect() as conn:
            row = [("loss", 1, 0.5, None)]
            result.append(store_batch(conn, run_id, row, ROLLUP_WIDTHS, datetime.now(UTC)))
            conn.commit()

    writer = threading.Thread(target=ingest)
    writer.start()
    time.sleep(0.3)
    deleting.commit()  # the batch was waiting for the run's row: it now finds the run gone
    deleting.close()
    writer.join(timeout=10)
    assert result == [None]
    assert stored(engine, run_id)["metric_points"] == 0


def test_migration_0009_round_trips(engine: Engine) -> None:
    def foreign_keys() -> set[str]:
        with engine.connect() as conn:
            return set(
                conn.scalars(
                    text(
                        "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
                        "(to_regclass('metric_points'), to_regclass('metric_rollups'))"
                    )
                )
            )

    with Session(engine) as session:  # a run for 0010 to count when it runs again (whatever ran before)
        make_run(session, make_project(session), status="running")
    assert foreign_keys() == set()
    downgrade(engine, "0008")
    try:
        assert foreign_keys() == {"metric_points_run_id_fkey", "metric_rollups_run_id_fkey"}
    finally:
        upgrade(engine)
    assert foreign_keys() == set()
    test_deleting_a_run_deletes_its_series(engine)  # the trigger is back
    with engine.connect() as conn:  # 0010 ran again too, counting the runs already there
        recount = "SELECT project_id, status, count(*) FROM runs GROUP BY 1, 2"
        assert conn.execute(text(recount)).all()
        assert set(conn.execute(text(recount))) == set(
            conn.execute(text("SELECT project_id, status, n FROM run_counts WHERE n > 0"))
        )
