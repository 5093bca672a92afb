"""One leader for the background duties among server processes sharing a database, on SQLite (a lease row)
and PostgreSQL (an advisory lock): a second process waits, a leader that stops or dies is succeeded."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from server.db import make_engine
from server.leader import Leadership


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "leader.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        sqlite = make_engine(f"sqlite:///{path}")
        yield sqlite
        sqlite.dispose()
        return
    yield request.getfixturevalue("postgres_engine")


def test_one_process_leads_and_the_other_waits(engine: Engine) -> None:
    first = Leadership(engine, lease_s=30, holder="host:1")
    second = Leadership(engine, lease_s=30, holder="host:2")
    try:
        assert first.hold() and first.hold(), "the leader keeps the lead pass after pass"
        assert not second.hold() and not second.hold()
        first.release()
        assert second.hold(), "a leader that stops in order hands over at the next try"
        assert not first.hold()
    finally:
        first.release()
        second.release()


def test_a_dead_leader_is_succeeded(engine: Engine) -> None:
    lease_s = 0.5
    leader = Leadership(engine, lease_s=lease_s, holder="host:1")
    follower = Leadership(engine, lease_s=lease_s, holder="host:2")
    try:
        assert leader.hold()
        assert not follower.hold()
        # Dies without releasing: its database session ends (PostgreSQL), its lease is not renewed (SQLite).
        if leader._connection is not None:
            leader._connection.invalidate()
        time.sleep(lease_s + 0.1)
        assert follower.hold()
        assert not Leadership(engine, lease_s=lease_s, holder="host:3").hold()
    finally:
        follower.release()
