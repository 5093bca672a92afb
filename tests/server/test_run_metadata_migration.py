"""Migration 0015 (runs.tags, notes, environment): runs already there read as untagged, without notes and
without an environment; downgrading drops the three columns and keeps the runs table working, its run_counts
triggers included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from server.db import make_engine
from server.migrate import alembic_config, downgrade, upgrade
from tests.backends import postgres_schema

#: The revision 0015 follows (read from the script, so the test holds when revisions are re-chained).
BEFORE = ScriptDirectory.from_config(alembic_config()).get_revision("0015").down_revision
assert isinstance(BEFORE, str)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("tb_metadata_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _add_run(engine: Engine, project_id: int, name: str) -> None:
    """A run with only the columns the revision before 0015 knows (the live Run table names later ones)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO runs (project_id, name, status, external, config, params, attempt, "
                "stopped_early, created_at) VALUES (:project, :name, 'succeeded', true, '{}', '{}', 0, "
                "false, CURRENT_TIMESTAMP)"
            ),
            {"project": project_id, "name": name},
        )


def test_upgrade_gives_old_runs_empty_metadata_and_downgrade_drops_only_it(empty_engine: Engine) -> None:
    engine = empty_engine
    upgrade(engine, BEFORE)
    with engine.begin() as connection:
        project_id = connection.execute(
            text(
                "INSERT INTO projects (name, dataset, optimizing_metric, satisficing, description, "
                "created_at, dataset_version) VALUES ('p', 'external', 'dev_error', '[]', '', "
                "CURRENT_TIMESTAMP, 1) RETURNING id"
            )
        ).scalar_one()
    _add_run(engine, project_id, "old")

    upgrade(engine, "0015")
    with engine.begin() as connection:
        row = connection.execute(text("SELECT name, tags, notes, environment FROM runs")).one()
        tags = json.loads(row.tags) if isinstance(row.tags, str) else row.tags  # psycopg decodes json
        assert (row.name, tags, row.notes, row.environment) == ("old", [], "", None)
    _add_run(engine, project_id, "new")  # an INSERT that names none of them still works

    downgrade(engine, BEFORE)
    columns = {column["name"] for column in inspect(engine).get_columns("runs")}
    assert not columns & {"tags", "notes", "environment"} and "group" in columns
    _add_run(engine, project_id, "after downgrade")
    with engine.connect() as connection:
        counted = connection.execute(text("SELECT n FROM run_counts WHERE status = 'succeeded'")).scalar_one()
    assert counted == 3  # the triggers still count
