"""Migrations 0025 (workers) and 0026 (run_attempts): an upgraded database keeps its runs with no attempt
rows, and downgrading drops both tables but keeps the runs (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from server.db import make_engine
from server.migrate import alembic_config, downgrade, upgrade
from tests.backends import postgres_schema

#: The revision 0025 follows (re-chained when branches merge, so read rather than written here).
BEFORE = ScriptDirectory.from_config(alembic_config()).get_revision("0025").down_revision


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("tb_workers_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_old_runs_have_no_attempts_and_downgrade_keeps_them(empty_engine: Engine) -> None:
    engine = empty_engine
    assert isinstance(BEFORE, str)
    upgrade(engine, BEFORE)
    with engine.begin() as connection:
        project_id = connection.execute(
            text(
                "INSERT INTO projects (name, dataset, optimizing_metric, satisficing, description, "
                "created_at, dataset_version) VALUES ('p', 'digits', 'dev_error', '[]', '', "
                "CURRENT_TIMESTAMP, 1) RETURNING id"
            )
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO runs (project_id, name, status, external, config, params, attempt, created_at) "
                "VALUES (:project, 'old', 'running', false, '{}', '{}', 1, CURRENT_TIMESTAMP)"
            ),
            {"project": project_id},
        )

    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM run_attempts")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM workers")).scalar_one() == 0

    downgrade(engine, BEFORE)
    tables = set(inspect(engine).get_table_names())
    assert not {"workers", "run_attempts"} & tables
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM runs")).scalar_one() == "old"
    upgrade(engine)
