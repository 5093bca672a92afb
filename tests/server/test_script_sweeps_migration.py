"""Migration 0017 (script sweeps): sweeps already there stay sweeps of built-in models with nothing handed
out, and downgrading drops the new columns but keeps sweeps and runs working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from server.db import make_engine
from server.migrate import alembic_config, downgrade, upgrade
from tests.backends import postgres_schema

#: The revision 0017 follows (re-chained when branches merge, so read rather than written here).
BEFORE = ScriptDirectory.from_config(alembic_config()).get_revision("0017").down_revision


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("tb_script_sweeps_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_old_sweeps_become_zoo_sweeps_and_downgrade_drops_the_columns(empty_engine: Engine) -> None:
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
                "INSERT INTO sweeps (project_id, name, status, strategy, base_config, space, trials, "
                "parallelism, seed, created_at) VALUES (:project, 'old', 'running', 'random', '{}', "
                "'{}', 5, 1, 0, CURRENT_TIMESTAMP)"
            ),
            {"project": project_id},
        )

    upgrade(engine)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT target, handed_out, parent_run_id, trial_group FROM sweeps")
        ).one()
    assert tuple(row) == ("zoo", 0, None, None)
    assert "log_tail" in _columns(engine, "runs")

    downgrade(engine, BEFORE)
    assert not {"target", "handed_out", "parent_run_id", "trial_group"} & _columns(engine, "sweeps")
    assert "log_tail" not in _columns(engine, "runs")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM sweeps")).scalar_one() == "old"
    upgrade(engine)
