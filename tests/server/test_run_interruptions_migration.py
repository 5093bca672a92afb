"""Migration 0023 (run interruptions): runs already there count no interruption, and downgrading drops the
columns but keeps the runs (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from server.db import make_engine
from server.migrate import alembic_config, downgrade, upgrade
from tests.backends import postgres_schema

#: The revision 0023 follows (re-chained when branches merge, so read rather than written here).
BEFORE = ScriptDirectory.from_config(alembic_config()).get_revision("0023").down_revision


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("tb_run_interruptions_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_old_runs_count_no_interruption_and_downgrade_keeps_them(empty_engine: Engine) -> None:
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
        row = connection.execute(text("SELECT interruptions, last_interruption FROM runs")).one()
    assert tuple(row) == (0, None)

    downgrade(engine, BEFORE)
    columns = {column["name"] for column in inspect(engine).get_columns("runs")}
    assert not {"interruptions", "last_interruption"} & columns
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM runs")).scalar_one() == "old"
    upgrade(engine)
