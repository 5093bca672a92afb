"""Migrations 0012 (Idempotency-Keys scoped to the caller), 0013 (project names unique per owner) and 0014
(session generations) on a database with data: nothing is lost (SQLite copies the projects table, which
must not cascade to its runs), old rows get the right owner, scope and generation, and all downgrade."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

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
    with postgres_schema("tb_accounts_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _insert(engine: Engine, sql: str, **values: object) -> int:
    with engine.begin() as connection:
        return int(connection.execute(text(sql + " RETURNING id"), values).scalar_one())


def _project(engine: Engine, name: str, key: str | None = None) -> int:
    return _insert(
        engine,
        "INSERT INTO projects (name, dataset, optimizing_metric, satisficing, description, created_at, "
        "dataset_version, idempotency_key) "
        "VALUES (:name, 'digits', 'dev_error', '[]', '', CURRENT_TIMESTAMP, 1, :key)",
        name=name,
        key=key,
    )


def _run(engine: Engine, project_id: int, key: str | None = None) -> int:
    return _insert(
        engine,
        "INSERT INTO runs (project_id, name, status, external, config, params, attempt, stopped_early, "
        "created_at, idempotency_key) VALUES (:project, 'r', 'succeeded', false, '{}', '{}', 0, false, "
        "CURRENT_TIMESTAMP, :key)",
        project=project_id,
        key=key,
    )


def _user(engine: Engine, name: str) -> int:
    return _insert(
        engine,
        "INSERT INTO users (username, password_hash, is_admin, disabled, created_at) "
        "VALUES (:name, 'x', false, false, CURRENT_TIMESTAMP)",
        name=name,
    )


def _scalars(engine: Engine, sql: str) -> list[object]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).scalars())


def test_upgrade_keeps_every_run_and_gives_old_projects_their_owner(empty_engine: Engine) -> None:
    engine = empty_engine
    upgrade(engine, "0011")
    alice = _user(engine, "alice")
    owned, ownerless = _project(engine, "shared-name", key="k1"), _project(engine, "auth-off", key="k2")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO project_members (project_id, user_id, role) VALUES (:p, :u, 'owner')"),
            {"p": owned, "u": alice},
        )
    runs = [_run(engine, owned, key="k1"), _run(engine, ownerless)]

    upgrade(engine)
    assert _scalars(engine, "SELECT id FROM runs ORDER BY id") == runs  # the copied table cascaded nothing
    assert _scalars(engine, "SELECT owner_id FROM projects ORDER BY id") == [alice, None]
    assert _scalars(engine, "SELECT idempotency_scope FROM runs WHERE idempotency_key = 'k1'") == [None]
    assert _scalars(engine, "SELECT session_generation FROM users") == [0]
    bob = _user(engine, "bob")
    with engine.begin() as connection:  # another owner may use the name; the same owner may not
        connection.execute(
            text("UPDATE projects SET owner_id = :bob WHERE id = :id"), {"bob": bob, "id": ownerless}
        )
        connection.execute(text("UPDATE projects SET name = 'shared-name' WHERE id = :id"), {"id": ownerless})
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text("UPDATE projects SET owner_id = :alice WHERE id = :id"), {"alice": alice, "id": ownerless}
        )
    if engine.dialect.name == "sqlite":
        assert _scalars(engine, "PRAGMA foreign_keys") == [1]  # back on for the app's connections

    downgrade(engine, "0011")
    names = _scalars(engine, "SELECT name FROM projects ORDER BY id")
    assert names == ["shared-name", f"shared-name ({ownerless})"]
    assert _scalars(engine, "SELECT count(*) FROM runs") == [2]
    upgrade(engine)
