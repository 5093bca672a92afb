"""Apply Alembic migrations from code (the CLI, the embedded start and the tests use this)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at migrations/; `url` overrides the settings' database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, foreign keys off while the migrations run (a no-op elsewhere).

    SQLite alters a table by copying it and dropping the original (batch mode), and with foreign keys on
    that drop deletes the rows of every table pointing at it (ON DELETE CASCADE): copying `projects`
    would take every run with it. SQLite's own recipe for ALTER turns them off outside the transaction,
    then checks that no reference dangles before the commit."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def check_foreign_keys(connection: Connection) -> None:
    """Refuse to commit a SQLite migration that left a reference dangling (see sqlite_foreign_keys_off)."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"a migration left foreign keys dangling: {broken[:5]}")


def _run(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config()
    with engine.connect() as connection, sqlite_foreign_keys_off(connection):
        with connection.begin():
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)  # migrations/env.py checks the foreign keys


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind `engine` to `revision`."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    _run(engine, "downgrade", revision)
