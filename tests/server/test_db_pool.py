"""The server's PostgreSQL pool: a connection that died while idle (the database restarted, or an admin
killed it) is replaced before a request gets it; a connection in steady use is not pinged first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from server import db
from tests.backends import postgres_url, require_service

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine() -> Iterator[Engine]:
    url = postgres_url()
    require_service("PostgreSQL", url)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or real(conn))
    return pings


def test_a_connection_killed_while_idle_is_replaced_before_use(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend_pid(engine)
    with db.make_engine(postgres_url()).connect() as admin:
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
    pings = count_pings(engine, monkeypatch)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    second = backend_pid(engine)  # no error: the dead connection was pinged, dropped and replaced
    assert second != first
    assert len(pings) == 1


def test_a_connection_back_within_the_idle_limit_is_not_pinged(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend_pid(engine)
    pings = count_pings(engine, monkeypatch)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 60.0)
    assert [backend_pid(engine) for _ in range(5)] == [first] * 5
    assert pings == []
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    assert backend_pid(engine) == first
    assert len(pings) == 1
