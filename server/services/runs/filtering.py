"""A run filter expression (``server.run_filter``) as a SQLAlchemy WHERE clause on runs, for SQLite and
PostgreSQL; values are bound parameters, never SQL text.

- ``metrics.K op v``: an EXISTS on run_summaries (its (run_id, key) primary key finds the row).
- ``params.K op v``: the run's params[K], else its config's hparams[K] (a queued run's hyperparameters),
  compared only where the stored JSON value has the value's type (a string param never meets ``< 0.01``,
  and PostgreSQL never casts a string to a number).
- ``tags contains "x"``: the tags JSON array holds "x".
- ``name ~ "re"``: a regular expression (SQLite: Python's ``re``; PostgreSQL: its own, for the common subset).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, exists, func, literal, not_, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import aliased

from server.errors import InvalidInput
from server.run_filter import And, Compare, FilterError, Node, Not, Or, parse
from server.tables import Run, RunSummary

_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def filter_clause(text: str, dialect: str) -> ColumnElement[bool]:
    """The WHERE clause for ``text``; InvalidInput on ``q`` saying where it broke."""
    try:
        node = parse(text)
    except FilterError as exc:
        raise InvalidInput(["query", "q"], f"Filter expression {exc}") from None
    return _clause(node, dialect)


def _clause(node: Node, dialect: str) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_clause(term, dialect) for term in node.terms))
    if isinstance(node, Or):
        return or_(*(_clause(term, dialect) for term in node.terms))
    if isinstance(node, Not):
        return not_(_clause(node.term, dialect))
    return _compare(node, dialect)


def _compare(node: Compare, dialect: str) -> ColumnElement[bool]:
    if node.field == "metrics":
        # An alias: a page sorted by a summary metric selects from run_summaries already.
        summary = aliased(RunSummary)
        return (
            exists()
            .where(summary.run_id == Run.id, summary.key == node.key)
            .where(_OPS[node.op](summary.value, node.value))
            .correlate(Run)
        )
    if node.field == "params":
        assert node.key is not None
        return _param(node.key, node.op, node.value, dialect)
    if node.field == "tags":
        return _tags_contain(str(node.value), dialect)
    column = {"name": Run.name, "status": Run.status, "group": Run.group}[node.field]
    if node.op == "~":
        return column.regexp_match(str(node.value))
    return _OPS[node.op](column, node.value)


def _param(key: str, op: str, value: object, dialect: str) -> ColumnElement[bool]:
    """params[key] (or config.hparams[key]) op value, where the stored value has value's JSON type."""
    if dialect == "postgresql":
        kind = "boolean" if isinstance(value, bool) else "string" if isinstance(value, str) else "number"
        sources = (Run.params[key], Run.config[("hparams", key)])
        found = func.coalesce(
            *(case((func.json_typeof(s) == kind, s.as_string()), else_=None) for s in sources)
        )
        if isinstance(value, bool):
            return _OPS[op](found, "true" if value else "false")
        if isinstance(value, str):
            return _OPS[op](found, value)
        return _OPS[op](cast(found, Float), value)
    kinds_sqlite: tuple[str, ...] = ("integer", "real")
    if isinstance(value, bool):
        kinds_sqlite = ("true", "false")
    elif isinstance(value, str):
        kinds_sqlite = ("text",)
    paths = ("$." + _quoted(key), "$.hparams." + _quoted(key))
    columns = (Run.params, Run.config)
    found_sqlite = func.coalesce(
        *(
            case((func.json_type(c, p).in_(kinds_sqlite), func.json_extract(c, p)), else_=None)
            for c, p in zip(columns, paths, strict=True)
        )
    )
    if isinstance(value, bool):
        return _OPS[op](found_sqlite, literal(1 if value else 0))
    return _OPS[op](found_sqlite, value)


def _quoted(key: str) -> str:
    return '"' + key + '"'  # run_filter's keys hold no quote or backslash


def _tags_contain(tag: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return cast(Run.tags, JSONB).contains([tag])
    each = func.json_each(Run.tags).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == tag)).correlate(Run)
