"""Alembic environment: the URL comes from Settings (or from a connection handed in by the caller)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import server.tables  # noqa: F401  (registers the tables on Base.metadata)
from server.db import Base, make_engine
from server.migrate import check_foreign_keys, sqlite_foreign_keys_off
from trainboard.settings import get_settings

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
    engine = make_engine(url)
    with engine.connect() as conn, sqlite_foreign_keys_off(conn):
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite can only ALTER tables by copying them; batch mode does that for us.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
        check_foreign_keys(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
