"""Migration 0027: on SQLite metric_rollups becomes a WITHOUT ROWID table with every bucket, its key and the
cascade from runs kept (the chart reads' tests run on the upgraded table); downgrading makes it a rowid table
again with the same rows. PostgreSQL's table is left as it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from server.db import make_engine
from server.migrate import downgrade, upgrade
from tests.backends import postgres_schema

ROWS = [
    (1, "loss", 16, bucket, 16, bucket * 16, 1.0 / (bucket + 1), bucket * 16 + 15, 2.0)
    for bucket in range(300)
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine_at_0026(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    def filled(engine: Engine) -> Engine:
        upgrade(engine, "0026")
        with engine.begin() as connection:
            project = connection.execute(
                text(
                    "INSERT INTO projects (name, dataset, optimizing_metric, satisficing, description, "
                    "created_at, dataset_version) VALUES ('p', 'digits', 'dev_error', '[]', '', "
                    "CURRENT_TIMESTAMP, 1) RETURNING id"
                )
            ).scalar_one()
            for name in ("kept", "deleted"):
                connection.execute(
                    text(
                        "INSERT INTO runs (project_id, name, status, external, config, params, attempt, "
                        "created_at) VALUES (:p, :name, 'succeeded', true, '{}', '{}', 1, CURRENT_TIMESTAMP)"
                    ),
                    {"p": project, "name": name},
                )
            columns = "run_id, key, width, bucket, n, min_step, min_value, max_step, max_value"
            marks = ", ".join(f":c{i}" for i in range(9))
            insert = text(f"INSERT INTO metric_rollups ({columns}) VALUES ({marks})")  # noqa: S608 (constants)
            rows = ROWS + [(2, *row[1:]) for row in ROWS[:10]]
            connection.execute(insert, [{f"c{i}": v for i, v in enumerate(row)} for row in rows])
        return engine

    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield filled(engine)
        engine.dispose()
        return
    with postgres_schema("tb_rollups_rowid") as url:
        engine = make_engine(url)
        yield filled(engine)
        engine.dispose()


def _table_sql(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'metric_rollups'")
            ).scalar_one()
        )


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        columns = "run_id, key, width, bucket, n, min_step, min_value, max_step, max_value"
        query = f"SELECT {columns} FROM metric_rollups WHERE run_id = 1"  # noqa: S608 (constants)
        return sorted(tuple(row) for row in connection.execute(text(query)))


def test_rollups_are_clustered_by_their_key_on_sqlite_and_kept(engine_at_0026: Engine) -> None:
    engine = engine_at_0026
    sqlite = engine.dialect.name == "sqlite"
    before = _rows(engine)
    assert len(before) == len(ROWS)
    if sqlite:
        assert "WITHOUT ROWID" not in _table_sql(engine)

    upgrade(engine, "0027")
    if sqlite:
        assert "WITHOUT ROWID" in _table_sql(engine)
    assert _rows(engine) == before
    with engine.begin() as connection:
        # A duplicate bucket is refused by the primary key; deleting a run deletes its buckets.
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            with connection.begin_nested():
                connection.execute(
                    text(
                        "INSERT INTO metric_rollups (run_id, key, width, bucket, n, min_step, min_value, "
                        "max_step, max_value) VALUES (1, 'loss', 16, 0, 1, 0, 0.0, 0, 0.0)"
                    )
                )
        connection.execute(text("DELETE FROM runs WHERE name = 'deleted'"))
        assert (
            connection.execute(text("SELECT count(*) FROM metric_rollups WHERE run_id = 2")).scalar_one() == 0
        )

    downgrade(engine, "0026")
    if sqlite:
        assert "WITHOUT ROWID" not in _table_sql(engine)
    assert _rows(engine) == before
    upgrade(engine)
