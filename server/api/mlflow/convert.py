"""Trainboard's rows in MLflow's terms: ids, times, statuses, and the JSON of experiments and runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from server.ids import parse_id
from server.tables import Project, Run

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAIVE_EPOCH = datetime(1970, 1, 1)
MS = timedelta(milliseconds=1)
#: MLflow's default experiment: the caller's project of this name, made when first used.
DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
STATUS_TO_MLFLOW = {
    "queued": "SCHEDULED",
    "running": "RUNNING",
    "succeeded": "FINISHED",
    "failed": "FAILED",
    "diverged": "FAILED",
    "cancelled": "KILLED",
}
MLFLOW_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
#: MLflow tags that are a run's own fields in Trainboard.
RUN_NAME_TAG = "mlflow.runName"
NOTE_TAG = "mlflow.note.content"
USER_TAG = "mlflow.user"


def to_ms(moment: datetime | None) -> int | None:
    """Milliseconds since the epoch, exactly (no float on the way); a naive time (SQLite's) is UTC."""
    if moment is None:
        return None
    return (moment - (NAIVE_EPOCH if moment.tzinfo is None else EPOCH)) // MS


def from_ms(ms: int) -> datetime:
    return EPOCH + ms * MS


def parse_ident(text: str | int | None) -> int | None:
    """The Trainboard id an MLflow id string names, or None."""
    return parse_id(str(text)) if text is not None else None


def artifact_root(project_id: int, run_id: int) -> str:
    """The run's artifact_uri: the client sends its files to /api/2.0/mlflow-artifacts/artifacts/<this>."""
    return f"mlflow-artifacts:/{project_id}/{run_id}/artifacts"


def experiment_json(project: Project, *, deleted: bool, tags: dict[str, str]) -> dict[str, Any]:
    created = to_ms(project.created_at)
    return {
        "experiment_id": str(project.id),
        "name": project.name,
        "artifact_location": f"mlflow-artifacts:/{project.id}",
        "lifecycle_stage": "deleted" if deleted else "active",
        "creation_time": created,
        "last_update_time": created,
        "tags": [{"key": k, "value": v} for k, v in sorted(tags.items())],
    }


def param_text(value: Any) -> str:
    """A param as MLflow shows it: a string (Trainboard's own runs keep numbers and lists in JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)) or value is None:
        return str(value)
    return json.dumps(value)


def run_info(run: Run, *, deleted: bool, tags: dict[str, str]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": str(run.id),
        "run_uuid": str(run.id),
        "run_name": run.name,
        "experiment_id": str(run.project_id),
        "user_id": tags.get(USER_TAG, ""),
        "status": STATUS_TO_MLFLOW.get(run.status, "RUNNING"),
        "start_time": to_ms(run.started_at or run.created_at),
        "artifact_uri": artifact_root(run.project_id, run.id),
        "lifecycle_stage": "deleted" if deleted else "active",
    }
    end = to_ms(run.finished_at)
    if end is not None:
        info["end_time"] = end
    return info


def run_tags(run: Run, tags: dict[str, str]) -> dict[str, str]:
    """The run's MLflow tags: those kept for it, plus its name and notes under MLflow's tag names."""
    every = {**tags, RUN_NAME_TAG: run.name}
    if run.notes:
        every[NOTE_TAG] = run.notes
    return every


def run_json(
    run: Run,
    *,
    deleted: bool,
    tags: dict[str, str],
    metrics: list[dict[str, Any]],
) -> dict[str, Any]:
    every_tag = run_tags(run, tags)
    return {
        "info": run_info(run, deleted=deleted, tags=tags),
        "data": {
            "metrics": metrics,
            "params": [{"key": k, "value": param_text(v)} for k, v in sorted((run.params or {}).items())],
            "tags": [{"key": k, "value": v} for k, v in sorted(every_tag.items())],
        },
        "inputs": {},
    }
