"""MLflow's runs/search as one SQL statement: its filter clauses and order_by over runs, summaries, params
and tags, built with SQLAlchemy (never from strings), paged with MLflow's offset tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, exists, func, literal, not_, select, true
from sqlalchemy.orm import Session

from server.api.mlflow.convert import (
    MLFLOW_STATUSES,
    NOTE_TAG,
    RUN_NAME_TAG,
    STATUS_TO_MLFLOW,
    USER_TAG,
    from_ms,
)
from server.api.mlflow.errors import invalid
from server.api.mlflow.experiments import decode_token, encode_token
from server.api.mlflow.filter_grammar import Clause, Order, compare, parse_filter, parse_order_by
from server.tables import MlflowDeletedRun, MlflowRunTag, Project, Run, RunSummary

VIEW_TYPES = {"ACTIVE_ONLY", "DELETED_ONLY", "ALL"}
MAX_RESULTS = 50_000  # MLflow's own cap on runs/search


def _compare(column: Any, op: str, value: Any, *, glob: bool) -> ColumnElement[bool]:
    result: ColumnElement[bool] = _comparison(column, op, value, glob=glob)
    return result


def _comparison(column: Any, op: str, value: Any, *, glob: bool) -> Any:
    if op == "LIKE":
        # SQLite's LIKE ignores case; its GLOB does not, as MLflow's LIKE (and PostgreSQL's) does not.
        if glob:
            pattern = "".join(
                {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(c, c) for c in value
            )
            return column.op("GLOB")(pattern)
        return column.like(value)
    if op == "ILIKE":
        return func.lower(column).like(str(value).lower())
    if op == "IN":
        return column.in_(value)
    if op == "NOT IN":
        return column.not_in(value)
    operators: dict[str, Callable[[Any, Any], Any]] = {
        "=": lambda c, v: c == v,
        "!=": lambda c, v: c != v,
        "<": lambda c, v: c < v,
        "<=": lambda c, v: c <= v,
        ">": lambda c, v: c > v,
        ">=": lambda c, v: c >= v,
    }
    return operators[op](column, value)


def _tag_value(key: str) -> Any:
    return (
        select(MlflowRunTag.value)
        .where(MlflowRunTag.run_id == Run.id, MlflowRunTag.key == key)
        .scalar_subquery()
    )


def _param_value(key: str) -> Any:
    return cast(Run.params[key].as_string(), String)


def _metric_value(key: str) -> Any:
    return (
        select(RunSummary.value).where(RunSummary.run_id == Run.id, RunSummary.key == key).scalar_subquery()
    )


def _start_time() -> Any:
    return func.coalesce(Run.started_at, Run.created_at)


def _attribute(key: str) -> Any:
    return {
        "run_name": Run.name,
        "start_time": _start_time(),
        "end_time": Run.finished_at,
        "created": Run.created_at,
        "user_id": _tag_value(USER_TAG),
    }.get(key)


def _condition(clause: Clause, aliases: dict[str, str], *, glob: bool) -> ColumnElement[bool]:
    kind, key, op, value = clause.kind, clause.key, clause.op, clause.value
    if kind == "metric":
        key = aliases.get(key, key)
        return exists().where(
            RunSummary.run_id == Run.id,
            RunSummary.key == key,
            _compare(RunSummary.value, op, value, glob=glob),
        )
    if kind == "param":
        column = _param_value(key)
    elif kind == "tag":
        column = {RUN_NAME_TAG: Run.name, NOTE_TAG: Run.notes}.get(key)
        if column is None:
            if op in ("IS NULL", "IS NOT NULL"):
                present = exists().where(MlflowRunTag.run_id == Run.id, MlflowRunTag.key == key)
                return not_(present) if op == "IS NULL" else present
            return exists().where(
                MlflowRunTag.run_id == Run.id,
                MlflowRunTag.key == key,
                _compare(MlflowRunTag.value, op, value, glob=glob),
            )
    elif key == "status":  # a small domain: the MLflow statuses that match, as Trainboard's
        wanted = [s for s in MLFLOW_STATUSES if compare(s, op, value)]
        return Run.status.in_([ours for ours, theirs in STATUS_TO_MLFLOW.items() if theirs in wanted])
    elif key == "run_id":
        return _run_id_condition(op, value)
    elif key == "lifecycle_stage":
        stages = [s for s in ("active", "deleted") if compare(s, op, value)]
        gone = exists().where(MlflowDeletedRun.run_id == Run.id)
        return and_(
            true(), *([] if "deleted" in stages else [not_(gone)]), *([] if "active" in stages else [gone])
        )
    elif key == "artifact_uri":
        raise invalid("Searching runs by attributes.artifact_uri is not supported")
    else:
        column = _attribute(key)
        if isinstance(value, float):  # a time attribute, in MLflow's milliseconds
            return _compare(column, op, from_ms(int(value)), glob=glob)
    if op == "IS NULL":
        return column.is_(None)  # type: ignore[no-any-return]  # an attribute column, untyped here
    if op == "IS NOT NULL":
        return column.is_not(None)  # type: ignore[no-any-return]  # an attribute column, untyped here
    return _compare(column, op, value, glob=glob)


def _run_id_condition(op: str, value: Any) -> ColumnElement[bool]:
    def ids(texts: tuple[str, ...]) -> list[int]:
        return [int(t) for t in texts if t.isascii() and t.isdigit() and len(t) < 12]

    if op in ("IN", "NOT IN"):
        column = Run.id.in_(ids(value))
        return column if op == "IN" else not_(column)
    if op in ("=", "!="):
        found = ids((value,))
        same = Run.id == found[0] if found else literal(False)
        return same if op == "=" else not_(same)
    return _compare(cast(Run.id, String), op, value, glob=False)


def _order_column(order: Order, aliases: dict[str, str]) -> Any:
    if order.kind == "metric":
        return _metric_value(aliases.get(order.key, order.key))
    if order.kind == "param":
        return _param_value(order.key)
    if order.kind == "tag":
        return {RUN_NAME_TAG: Run.name}.get(order.key, _tag_value(order.key))
    if order.key == "run_id":
        return Run.id
    if order.key == "status":
        return Run.status
    column = _attribute(order.key)
    if column is None:
        raise invalid(f"Runs cannot be ordered by attributes.{order.key}")
    return column


def search_run_ids(
    session: Session,
    projects: list[Project],
    *,
    filter_text: str | None,
    view_type: str,
    max_results: int,
    order_by: list[str],
    page_token: str | None,
) -> tuple[list[int], str | None]:
    """One page of the matching runs' ids, in order, and the token of the next page (None at the end)."""
    if view_type not in VIEW_TYPES:
        raise invalid(
            f"Invalid value for 'run_view_type': {view_type!r}, expected one of {sorted(VIEW_TYPES)}"
        )
    if not 1 <= max_results <= MAX_RESULTS:
        raise invalid(f"Invalid value for 'max_results': {max_results}, expected 1 to {MAX_RESULTS}")
    clauses = parse_filter(filter_text)
    orders = parse_order_by(order_by)
    offset = decode_token(page_token)
    aliases: dict[str, str] = {}
    for project in projects:
        aliases.update(project.metric_aliases or {})
    glob = session.get_bind().dialect.name == "sqlite"
    query = select(Run.id).where(Run.project_id.in_([p.id for p in projects]))
    gone = exists().where(MlflowDeletedRun.run_id == Run.id)
    if view_type == "ACTIVE_ONLY":
        query = query.where(not_(gone))
    elif view_type == "DELETED_ONLY":
        query = query.where(gone)
    for clause in clauses:
        query = query.where(_condition(clause, aliases, glob=glob))
    ordering = []
    for order in orders:
        column = _order_column(order, aliases)
        ordering += [case((column.is_(None), 1), else_=0), column.asc() if order.ascending else column.desc()]
    ordering += [_start_time().desc(), Run.id.desc()]
    ids = list(session.scalars(query.order_by(*ordering).limit(max_results + 1).offset(offset)))
    more = len(ids) > max_results
    return ids[:max_results], encode_token(offset + max_results) if more else None
