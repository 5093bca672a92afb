"""The migrations build the schema the models declare: Alembic's autogenerate, run against a database
migrated to head, finds nothing to add or drop, on SQLite and on PostgreSQL, but for the differences listed
here with their reasons. A model change without its migration (or a migration that differs from its
model) fails here instead of at a user's upgrade."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, ForeignKeyConstraint

import server.tables  # noqa: F401  (registers every table on Base.metadata)
from server.db import Base, make_engine

#: (dialect, kind, table, column) of the differences that are on purpose or not real.
EXPECTED = {
    # Migration 0009 dropped the foreign keys of the series tables on PostgreSQL: checking each point's
    # run cost ingestion a third of its time there; deleting a run deletes its points explicitly.
    ("postgresql", "add_fk", "metric_points", "run_id"),
    ("postgresql", "add_fk", "metric_rollups", "run_id"),
    # Columns added by SQLite's ALTER TABLE ADD COLUMN ... REFERENCES ... ON DELETE SET NULL: PRAGMA
    # foreign_key_list shows the ON DELETE (test below), but SQLAlchemy reflects the inline clause without it.
    ("sqlite", "remove_fk", "runs", "sweep_id"),
    ("sqlite", "add_fk", "runs", "sweep_id"),
    ("sqlite", "remove_fk", "sweeps", "parent_run_id"),
    ("sqlite", "add_fk", "sweeps", "parent_run_id"),
}


def _describe(dialect: str, diff: Any) -> tuple[str, ...]:
    if isinstance(diff, list):  # column modifications come as a list of changes
        return tuple(str(part) for part in diff[0][:4])
    kind, item = diff[0], diff[1]
    if isinstance(item, ForeignKeyConstraint):
        return (dialect, kind, item.table.name, ",".join(c.name for c in item.columns))
    return (dialect, kind, str(getattr(item, "name", item)))


def _differences(engine: Engine) -> set[tuple[str, ...]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unreflectable expression indexes, the runs/sweeps FK cycle
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return {_describe(engine.dialect.name, diff) for diff in diffs}


def test_sqlite_migrated_to_head_matches_the_models(sqlite_template: Path) -> None:
    engine = make_engine(f"sqlite:///{sqlite_template}")
    try:
        found = _differences(engine)
        with engine.connect() as connection:
            on_delete = {
                (row[3], row[6])
                for table in ("runs", "sweeps")
                for row in connection.exec_driver_sql(f"PRAGMA foreign_key_list({table})")
                if row[3] in ("sweep_id", "parent_run_id")
            }
    finally:
        engine.dispose()
    assert found == {d for d in EXPECTED if d[0] == "sqlite"}
    assert on_delete == {("sweep_id", "SET NULL"), ("parent_run_id", "SET NULL")}


@pytest.mark.postgres
def test_postgresql_migrated_to_head_matches_the_models(postgres_engine: Engine) -> None:
    assert _differences(postgres_engine) == {d for d in EXPECTED if d[0] == "postgresql"}
