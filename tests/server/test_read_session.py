"""The read-only session dependency: a route that only reads runs its statements in autocommit (no BEGIN
or ROLLBACK round trips on PostgreSQL), and the session writes in transactions again afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from server.db import get_read_session
from server.tables import Project
from tests.backends import run_coroutine


def _autocommit(session: Session) -> bool:
    return bool(session.connection().connection.dbapi_connection.autocommit)  # type: ignore[union-attr]


@pytest.mark.postgres
def test_a_read_session_reads_in_autocommit_and_gives_the_connection_back(postgres_engine: Engine) -> None:
    session = Session(postgres_engine)
    dependency = get_read_session(session)
    read = run_coroutine(dependency.__anext__())
    read.execute(select(Project.id)).all()
    assert _autocommit(read)
    with pytest.raises(StopAsyncIteration):
        run_coroutine(dependency.__anext__())
    assert not session.in_transaction()  # closed: its connection went back to the pool
    session.execute(select(Project.id)).all()
    assert not _autocommit(session) and session.in_transaction()  # a normal transaction again
    session.close()


def test_a_session_joined_to_a_callers_transaction_keeps_it(session: Session) -> None:
    session.execute(select(Project.id)).all()  # already in a transaction, as the tests' PostgreSQL session
    dependency = get_read_session(session)
    read = run_coroutine(dependency.__anext__())
    assert read is session and read.in_transaction()
    read.execute(select(Project.id)).all()
    assert read.in_transaction()
