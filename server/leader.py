"""One server process at a time runs the background duties (reaper, broker re-sends, sweep advances).

With `trainboard serve --workers N` every process starts the reaper thread; two reapers reading the same
stale run would both re-queue it (two messages, an attempt counted twice). The database elects one:

- PostgreSQL: a session-level advisory lock on a connection the leader keeps open. When the leader dies its
  connection closes and the lock is free at once; another process takes it at its next try (one interval).
- SQLite (no advisory locks): a row in `leader_leases` with a lease the leader renews every pass; another
  process takes it once the lease has run out (at most `lease_s` after the leader's last renewal).

A leader that stops in order gives the lock or lease up, so a successor does not wait.
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from server.tables import LeaderLease

logger = logging.getLogger(__name__)

DUTIES = "background duties"


def process_name() -> str:
    """ "host:pid", how the lease names its holder."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """Whether this process leads; `hold()` before each pass takes, keeps or loses the lead."""

    def __init__(
        self, engine: Engine, *, lease_s: float, name: str = DUTIES, holder: str | None = None
    ) -> None:
        self.engine, self.lease_s, self.name = engine, lease_s, name
        self.holder = holder or process_name()
        self.leading = False
        self._connection: Connection | None = None

    def hold(self) -> bool:
        """Take the lead if it is free, keep it if this process has it; True while this process leads."""
        try:
            leading = self._hold_lock() if self.engine.dialect.name == "postgresql" else self._hold_lease()
        except DBAPIError as exc:
            # The database is away: whoever leads cannot reap anyway; try again next pass.
            logger.warning("leader election failed: %s", exc)
            self._drop_connection()
            leading = False
        if leading != self.leading:
            verb = "now runs" if leading else "no longer runs"
            logger.info("server process %s %s the %s (reaper, broker re-sends)", self.holder, verb, self.name)
        self.leading = leading
        return leading

    def release(self) -> None:
        """Give the lead up (on a clean stop), so that another process takes it at its next try."""
        try:
            if self._connection is not None:
                # Closing the session would free its locks too, but PostgreSQL notices that a moment later.
                self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
                self._drop_connection()
            elif self.leading:
                with self.engine.begin() as conn:
                    conn.execute(
                        update(LeaderLease)
                        .where(LeaderLease.name == self.name, LeaderLease.holder == self.holder)
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
                    )
        except DBAPIError as exc:
            logger.warning("could not give up the lead: %s", exc)
        self.leading = False

    def _hold_lock(self) -> bool:
        if self._connection is None:
            # Autocommit: the lock belongs to the session, and no transaction stays open between passes.
            self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if self.leading:
            self._connection.execute(text("SELECT 1"))  # raises when the session (and its lock) is gone
            return True
        # One lock per schema: test suites and several Trainboards may share a database, one schema each.
        schema = self._connection.execute(text("SELECT current_schema()")).scalar_one()
        key = zlib.crc32(f"trainboard {self.name} {schema}".encode())
        return bool(
            self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        )

    def _hold_lease(self) -> bool:
        # Clocks of one host agree; server processes on several hosts sharing a SQLite file is not supported.
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self.lease_s)
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(LeaderLease)
                .where(
                    LeaderLease.name == self.name,
                    (LeaderLease.holder == self.holder) | (LeaderLease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=until)
            ).rowcount
            if renewed:
                return True
            if conn.execute(select(LeaderLease.name).where(LeaderLease.name == self.name)).first():
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(LeaderLease).values(name=self.name, holder=self.holder, expires_at=until))
        except IntegrityError:
            return False  # another process inserted it first
        return True

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()  # never back to the pool: its session may hold the lock
                self._connection.close()
            except DBAPIError:
                pass
            self._connection = None
