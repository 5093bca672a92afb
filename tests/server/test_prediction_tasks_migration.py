"""Migration 0024 (prediction tasks): predictions and their counts already there stay, as a single-task run's
(task NULL); afterwards one example holds a prediction per task and still one without; downgrading keeps the
single-task rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from server.db import make_engine
from server.migrate import alembic_config, downgrade, upgrade
from tests.backends import postgres_schema

#: The revision 0024 follows (re-chained when branches merge, so read rather than written here).
BEFORE = ScriptDirectory.from_config(alembic_config()).get_revision("0024").down_revision

INSERT = (
    "INSERT INTO predictions (run_id, split, {task_column}example_id, label, predicted, is_error, "
    "confidence) VALUES (:run, 'dev', {task_value}:example, '1', '0', true, 0.5)"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("tb_prediction_tasks_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _insert(connection: Connection, run: int, example: str, task: str | None = None) -> None:
    sql = INSERT.format(task_column="task, " if task else "", task_value=":task, " if task else "")
    connection.execute(text(sql), {"run": run, "example": example, "task": task})


def test_old_predictions_become_single_task_and_tasks_fit_beside_them(empty_engine: Engine) -> None:
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
        run_id = connection.execute(
            text(
                "INSERT INTO runs (project_id, name, status, external, config, params, attempt, created_at) "
                "VALUES (:project, 'old', 'succeeded', false, '{}', '{}', 1, CURRENT_TIMESTAMP) RETURNING id"
            ),
            {"project": project_id},
        ).scalar_one()
        _insert(connection, run_id, "x")
        connection.execute(
            text(
                "INSERT INTO prediction_counts (run_id, split, label, predicted, confidence_bin, n, "
                "confidence_sum) VALUES (:run, 'dev', '1', '0', 5, 1, 0.5)"
            ),
            {"run": run_id},
        )

    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT example_id, task FROM predictions")).all() == [("x", None)]
        assert connection.execute(text("SELECT task, n FROM prediction_counts")).all() == [(None, 1)]
    with engine.begin() as connection:
        _insert(connection, run_id, "x", "even")
        _insert(connection, run_id, "x", "prime")
    for task in (None, "even"):  # still one prediction per (run, split, task, example)
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _insert(connection, run_id, "x", task)
    names = {index["name"] for index in inspect(engine).get_indexes("predictions")}
    assert {"uq_predictions_example", "uq_predictions_task_example", "ix_predictions_errors"} <= names

    downgrade(engine, BEFORE)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT example_id FROM predictions")).all() == [("x",)]
        assert connection.execute(text("SELECT n FROM prediction_counts")).all() == [(1,)]
    assert "task" not in {column["name"] for column in inspect(engine).get_columns("predictions")}
    assert inspect(engine).get_pk_constraint("predictions")["constrained_columns"] == [
        "run_id",
        "split",
        "example_id",
    ]
    upgrade(engine)
