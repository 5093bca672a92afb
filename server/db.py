"""Engine, session factory and the one request-scoped session dependency."""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Annotated, Any

import anyio
from fastapi import Depends
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from trainboard.files import private_dir
from trainboard.settings import get_settings


class Base(DeclarativeBase):
    """Declarative base of every table; Alembic's target metadata."""


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL mode, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # connect_timeout bounds a request while the database host does not answer (it then gets a 503).
    connect_args = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args=connect_args)
    event.listen(engine, "checkin", _mark_idle)
    event.listen(engine, "checkout", functools.partial(_ping_if_idle, engine.dialect))
    return engine


#: A pooled connection idle for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def _mark_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Replace a connection that died while it sat in the pool (the database restarted), so that the pool
    recovers by itself; raising DisconnectionError makes the pool connect afresh.

    Unlike pool_pre_ping, only after PING_AFTER_IDLE_S: under load a connection comes back within
    milliseconds, and its ping was one of the two round trips of a metrics batch (and one of five of a run
    list). A connection that dies while in use fails its request with a 503, and SQLAlchemy then
    replaces every connection of the pool, so a restart under load costs one retried request."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        alive = dialect.do_ping(dbapi_connection)
    except Exception as exc:
        raise DisconnectionError(f"a pooled connection was dead: {exc}") from exc
    if not alive:
        raise DisconnectionError("a pooled connection was dead")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the pages read while workers write; NORMAL sync is safe with WAL and much faster.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # 16 MiB of page cache a connection (SQLite's default is 2 MiB): a chart of a 10M-point series reads
    # ~600 rollup rows from as many pages, which thrashed the default cache (1.55 -> 0.72 ms a read).
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.close()


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    settings = get_settings()
    if settings.database_url is None:
        private_dir(settings.resolved_home)
    return make_engine(settings.resolved_database_url)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


async def get_session() -> AsyncIterator[Session]:
    """One session per request.

    Async so that a request does not hop to the thread pool twice more (open and close) besides its sync
    handler: opening a session does no I/O, and neither does closing one whose transaction has ended (a
    commit already gave the connection back). Closing one that still holds a connection rolls back, a
    database round trip, so that runs in the thread pool, shielded so that a client hanging up mid-request
    cannot leak the connection."""
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.close)
        else:
            session.close()


def autocommit_connection(session: Session) -> Connection:
    """The session's connection for work done in single statements, each its own transaction.

    On PostgreSQL a request's BEGIN and COMMIT (or ROLLBACK) are round trips of their own; for a read, or a
    write made in one statement, autocommit spares both. Statements see what a transaction would show them
    at READ COMMITTED: each its own snapshot. A session that is already in a transaction, or is joined to a
    caller's (as the test suite's sessions are), keeps it. ``session.commit()`` ends the autocommit
    "transaction" without a round trip, and the session's next statement gets a normal one."""
    if session.in_transaction() or not isinstance(session.get_bind(), Engine):
        return session.connection()
    return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


SessionDep = Annotated[Session, Depends(get_session)]


_AUTOCOMMIT: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _autocommit_engine(engine: Engine) -> Engine:
    """The engine's autocommit twin, made once per engine rather than once per request."""
    twin = _AUTOCOMMIT.get(engine)
    if twin is None:
        twin = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return twin


async def get_read_session(session: SessionDep) -> AsyncIterator[Session]:
    """The request's session, for a route that only reads: each statement runs in autocommit
    (``autocommit_connection``), which spares PostgreSQL the request's BEGIN and ROLLBACK round trips.

    The switch is made on the session's bind, before any statement and without I/O; a session joined to a
    caller's transaction (the test suite's) keeps it. After a read that went well the session is closed
    here, on the event loop: in autocommit there is no transaction to end, so closing it makes no round
    trip and spares ``get_session`` a thread-pool hop. Writing through it would commit each statement."""
    bind = session.get_bind()
    switched = False
    if isinstance(bind, Engine) and not session.in_transaction():
        session.bind, switched = _autocommit_engine(bind), True
    yield session
    if switched:
        session.close()
        session.bind = bind  # a session used on after the request (the tests') writes in transactions again


ReadSessionDep = Annotated[Session, Depends(get_read_session)]
