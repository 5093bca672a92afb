"""Runs in MLflow's terms: an MLflow run is an external Trainboard run, logged through the same services.

Metric points go through `metrics.store_metrics` (the project's aliases rename them to the canonical keys,
the summaries and rollups follow), finishing goes through `analysis.finish_run` (the best epoch is pinned),
so a run logged by MLflow's client reads on Trainboard's pages like one logged by Trainboard's own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server import access
from server.api.mlflow.convert import (
    NOTE_TAG,
    RUN_NAME_TAG,
    from_ms,
    parse_ident,
    run_json,
    to_ms,
)
from server.api.mlflow.errors import INVALID_STATE, MlflowError, invalid, not_found
from server.auth import Principal
from server.errors import NotFound
from server.queue import get_queue
from server.schemas import TERMINAL_STATUSES, MetricPointIn, RunCreate, RunFinish
from server.services import analysis, metrics, runs
from server.tables import MetricPoint, MlflowDeletedRun, MlflowRunTag, Project, Run, RunSummary

MAX_PARAM_VALUE = 6000  # MLflow's own limit on a param's value
MAX_TAG_VALUE = 8000


def resolve(session: Session, principal: Principal, run_id: str | int | None, need: int) -> Run:
    """The run an MLflow run id names, checked against the caller's role in its project."""
    ident = parse_ident(run_id)
    if ident is None:
        raise not_found(f"Run with id={run_id!r} not found")
    try:
        access.check_run(session, principal, ident, need)
    except NotFound:
        raise not_found(f"Run with id={run_id!r} not found") from None
    run = session.get(Run, ident)
    if run is None:  # deleted since the access check
        raise not_found(f"Run with id={run_id!r} not found")
    return run


def tags_of(session: Session, run_ids: list[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {i: {} for i in run_ids}
    rows = session.execute(
        select(MlflowRunTag.run_id, MlflowRunTag.key, MlflowRunTag.value).where(
            MlflowRunTag.run_id.in_(run_ids)
        )
    )
    for run_id, key, value in rows:
        found[run_id][key] = value
    return found


def deleted_of(session: Session, run_ids: list[int]) -> set[int]:
    return set(session.scalars(select(MlflowDeletedRun.run_id).where(MlflowDeletedRun.run_id.in_(run_ids))))


def latest_metrics(session: Session, run_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each run's latest point per key (its summary), with the point's own timestamp."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in run_ids}
    summary, point = RunSummary.__table__.c, MetricPoint.__table__.c
    rows = session.execute(
        select(summary.run_id, summary.key, summary.step, summary.value, point.timestamp)
        .outerjoin(
            MetricPoint.__table__,
            (point.run_id == summary.run_id) & (point.key == summary.key) & (point.step == summary.step),
        )
        .where(summary.run_id.in_(run_ids))
        .order_by(summary.run_id, summary.key)
    )
    for run_id, key, step, value, stamp in rows:
        found[run_id].append({"key": key, "value": value, "timestamp": to_ms(stamp) or 0, "step": step})
    return found


def to_json_many(session: Session, found: list[Run]) -> list[dict[str, Any]]:
    ids = [r.id for r in found]
    tags, gone, latest = tags_of(session, ids), deleted_of(session, ids), latest_metrics(session, ids)
    return [run_json(r, deleted=r.id in gone, tags=tags[r.id], metrics=latest[r.id]) for r in found]


def to_json(session: Session, run: Run) -> dict[str, Any]:
    return to_json_many(session, [run])[0]


def _check_tag(key: str, value: str) -> None:
    if not key or len(key) > 250:
        raise invalid(f"Invalid value for 'key': a tag key has 1 to 250 characters, but got {len(key)}")
    if len(value) > MAX_TAG_VALUE:
        raise invalid(f"Tag {key!r}: its value has {len(value)} characters, at most {MAX_TAG_VALUE}")


def create(
    session: Session,
    project: Project,
    *,
    run_name: str | None,
    start_time: int | None,
    tags: dict[str, str],
    user_id: str | None,
) -> Run:
    """An external run in the experiment's project, started at `start_time` (ms)."""
    for key, value in tags.items():
        _check_tag(key, value)
    name = run_name or tags.get(RUN_NAME_TAG) or None
    try:
        data = RunCreate(project_id=project.id, name=name, external=True, notes=tags.get(NOTE_TAG, ""))
    except ValidationError as exc:
        raise invalid(f"Invalid run: {exc.errors()[0]['msg']}") from None
    run = runs.create_run(session=session, data=data, queue=get_queue())
    if start_time is not None:
        run.started_at = from_ms(start_time)
    own = {k: v for k, v in tags.items() if k not in (RUN_NAME_TAG, NOTE_TAG)}
    if user_id:
        own.setdefault("mlflow.user", user_id)
    for key, value in own.items():
        session.add(MlflowRunTag(run_id=run.id, key=key, value=value))
    session.commit()
    return run


def update(
    session: Session, run: Run, *, status: str | None, end_time: int | None, run_name: str | None
) -> Run:
    """MLflow's runs/update: a new name, and an end (FINISHED, FAILED, KILLED) or a restart (RUNNING)."""
    if run_name:
        _set_name(session, run, run_name)
    if status is not None:
        _set_status(session, run, status)
    if end_time is not None and run.status in TERMINAL_STATUSES:
        run.finished_at = from_ms(end_time)
    session.commit()
    return run


def _set_name(session: Session, run: Run, name: str) -> None:
    if len(name) > 200:
        raise invalid(f"Invalid value for 'run_name': at most 200 characters, but got {len(name)}")
    run.name = name
    session.commit()


def _set_status(session: Session, run: Run, status: str) -> None:
    finished = {"FINISHED": "succeeded", "FAILED": "failed", "KILLED": "cancelled"}
    if status in finished:
        if run.status in TERMINAL_STATUSES:
            return  # MLflow lets a finished run be finished again; Trainboard keeps its first ending
        if status == "KILLED":
            runs.cancel_run(session=session, run_id=run.id, queue=get_queue())
        else:
            error = "MLflow's client reported the run FAILED" if status == "FAILED" else None
            analysis.finish_run(
                session=session,
                run_id=run.id,
                data=RunFinish(status=finished[status], error=error),
                queue=get_queue(),
            )
    elif status == "RUNNING":
        if run.status in TERMINAL_STATUSES:
            runs.resume_run(session=session, run_id=run.id)
    elif status == "SCHEDULED":
        raise MlflowError(INVALID_STATE, f"Run {run.id} cannot go back to SCHEDULED")
    else:
        raise invalid(f"Invalid value for 'status': {status!r}, expected RUNNING, FINISHED, FAILED or KILLED")


def set_deleted(session: Session, run: Run, deleted: bool) -> None:
    if deleted:
        session.merge(MlflowDeletedRun(run_id=run.id))
    else:
        session.execute(delete(MlflowDeletedRun).where(MlflowDeletedRun.run_id == run.id))
    session.commit()


def set_tag(session: Session, run: Run, key: str, value: str) -> None:
    _check_tag(key, value)
    if key == RUN_NAME_TAG:
        _set_name(session, run, value)
    elif key == NOTE_TAG:
        run.notes = value
    else:
        session.merge(MlflowRunTag(run_id=run.id, key=key, value=value))
    session.commit()


def delete_tag(session: Session, run: Run, key: str) -> None:
    if key == NOTE_TAG:
        run.notes = ""
    else:
        gone = session.execute(
            delete(MlflowRunTag).where(MlflowRunTag.run_id == run.id, MlflowRunTag.key == key)
        )
        if gone.rowcount == 0:  # type: ignore[attr-defined]  # a DELETE's result is a CursorResult
            raise not_found(f"No tag with name: {key} in run with id {run.id}")
    session.commit()


def log_params(session: Session, run: Run, params: list[tuple[str, str]]) -> None:
    """Params are written once: the same value again is fine, a different one is refused (as MLflow)."""
    current = dict(run.params or {})
    for key, value in params:
        if not key or len(key) > 250:
            raise invalid(f"Invalid value for 'key': a param key has 1 to 250 characters, but got {key!r}")
        if len(value) > MAX_PARAM_VALUE:
            raise invalid(f"Param {key!r}: its value has {len(value)} characters, at most {MAX_PARAM_VALUE}")
        if key in current and str(current[key]) != value:
            raise invalid(
                f"Changing param values is not allowed. Param with key={key!r} was already logged with "
                f"value={current[key]!r} for run ID={run.id!r}. Attempted logging new value {value!r}."
            )
        current[key] = value
    if current != (run.params or {}):
        run.params = current
        session.commit()


def log_metrics(session: Session, run: Run, points: list[dict[str, Any]]) -> None:
    """MLflow points (key, value, ms timestamp, step) through Trainboard's one ingestion path."""
    converted = []
    for index, point in enumerate(points):
        try:
            stamp = point.get("timestamp")
            converted.append(
                MetricPointIn(
                    key=point.get("key"),
                    value=point.get("value"),
                    step=point.get("step") or 0,
                    timestamp=from_ms(int(stamp)) if stamp is not None else None,
                )
            )
        except (ValidationError, ValueError, TypeError, OverflowError) as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
            field = ".".join(str(p) for p in errors[0]["loc"]) or "timestamp"
            raise invalid(f"Invalid value for 'metrics[{index}].{field}': {errors[0]['msg']}") from None
    if converted:
        metrics.store_metrics(session=session, run_id=run.id, points=converted, queue=get_queue())


def stamp_of(moment: datetime | None) -> int:
    return to_ms(moment) or 0


def load(session: Session, run_ids: list[int]) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.id.in_(run_ids)))) if run_ids else []
