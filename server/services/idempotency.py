"""Idempotency-Key, scoped to the caller: a retried POST finds what it created, never what another caller
created with the same key (which would hand them someone else's project, or tell them its name)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_

from server.tables import Project, Run


@dataclass(frozen=True)
class ScopedKey:
    """A client's Idempotency-Key within its caller's scope ("user:7", "worker", "anonymous")."""

    scope: str
    key: str


def for_caller(scope: str, key: str | None) -> ScopedKey | None:
    """The header's key in the caller's scope, or None when the request sent no key."""
    return None if key is None else ScopedKey(scope=scope, key=key)


def matches(table: type[Project] | type[Run], key: ScopedKey) -> ColumnElement[bool]:
    """The WHERE clause that finds the row this caller created with this key."""
    return and_(table.idempotency_scope == key.scope, table.idempotency_key == key.key)
