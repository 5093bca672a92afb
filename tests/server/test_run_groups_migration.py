"""Migration 0011 (runs.group): runs already there get no group, and downgrading drops the column and its
index but keeps the rest of the runs table working, its run_counts triggers included (SQLite rebuilding the
table would have lost them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from server.db import make_engine
from server.migrate import downgrade, upgrade
from tests.backends import postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("tb_groups_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _add_run(engine: Engine, project_id: int, name: str) -> None:
    """A run with only the columns 0010 knows (the live Run table names later ones)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO runs (project_id, name, status, external, config, params, attempt, "
                "stopped_early, created_at) VALUES (:project, :name, 'succeeded', false, '{}', '{}', 0, "
                "false, CURRENT_TIMESTAMP)"
            ),
            {"project": project_id, "name": name},
        )


def _succeeded(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT n FROM run_counts WHERE status = 'succeeded'")).scalar_one()


def test_upgrade_leaves_old_runs_ungrouped_and_downgrade_drops_only_the_group(empty_engine: Engine) -> None:
    engine = empty_engine
    upgrade(engine, "0010")
    with engine.begin() as connection:
        project_id = connection.execute(
            text(
                "INSERT INTO projects (name, dataset, optimizing_metric, satisficing, description, "
                "created_at, dataset_version) VALUES ('p', 'digits', 'dev_error', '[]', '', "
                "CURRENT_TIMESTAMP, 1) RETURNING id"
            )
        ).scalar_one()
    _add_run(engine, project_id, "old")

    upgrade(engine)
    with engine.begin() as connection:
        assert connection.execute(text('SELECT name, "group" FROM runs')).all() == [("old", None)]
        connection.execute(text("UPDATE runs SET \"group\" = 'old seeds'"))
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("runs")}
    assert indexes["ix_runs_project_group"] == ["project_id", "group"]

    downgrade(engine, "0010")
    inspector = inspect(engine)
    assert "group" not in {column["name"] for column in inspector.get_columns("runs")}
    assert "ix_runs_project_group" not in {ix["name"] for ix in inspector.get_indexes("runs")}
    _add_run(engine, project_id, "after downgrade")
    assert _succeeded(engine) == 2  # the triggers still count

    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text('SELECT count(*) FROM runs WHERE "group" IS NULL')).scalar_one() == 2
