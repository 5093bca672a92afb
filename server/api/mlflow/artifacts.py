"""MLflow's artifact proxy, /api/2.0/mlflow-artifacts/artifacts, over Trainboard's run artifacts.

A run's artifact_uri is `mlflow-artifacts:/<experiment>/<run>/artifacts`, so the client sends each file to
`.../artifacts/<experiment>/<run>/artifacts/<path>` and lists with `?path=<experiment>/<run>/artifacts/<dir>`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from server import access
from server.api.mlflow import runs
from server.api.mlflow.errors import MlflowRoute, invalid, not_found, refuse_workers
from server.auth import ApiAuth, Principal
from server.body_guard import body_limit
from server.db import SessionDep
from server.schemas import NoNul
from server.services import artifacts
from server.tables import Run

ArtifactPath = Annotated[str, NoNul]

router = APIRouter(route_class=MlflowRoute, tags=["mlflow"], dependencies=[Depends(refuse_workers)])


def _locate(session: Session, principal: Principal, full: str, need: int) -> tuple[Run, str]:
    """The run and the path inside its artifacts that `<experiment>/<run>/artifacts[/<path>]` names."""
    parts = full.strip("/").split("/", 3)
    if len(parts) < 3 or parts[2] != "artifacts":
        raise invalid(f"Artifact path {full[:200]!r}: expected <experiment_id>/<run_id>/artifacts/<path>")
    run = runs.resolve(session, principal, parts[1], need)
    if str(run.project_id) != parts[0]:
        raise not_found(f"Run with id={parts[1]!r} not found in experiment {parts[0]!r}")
    return run, parts[3] if len(parts) == 4 else ""


@router.put("/artifacts/{path:path}")
@body_limit(None)  # streamed against TRAINBOARD_MAX_ARTIFACT_MB
async def upload_artifact(
    path: ArtifactPath, request: Request, session: SessionDep, principal: ApiAuth
) -> dict[str, Any]:
    run, inner = _locate(session, principal, path, access.EDITOR)
    await artifacts.save_artifact(session=session, run_id=run.id, path=inner, chunks=request.stream())
    return {}


@router.get("/artifacts/{path:path}")
def download_artifact(path: ArtifactPath, session: SessionDep, principal: ApiAuth) -> FileResponse:
    run, inner = _locate(session, principal, path, access.VIEWER)
    row, local = artifacts.find_artifact(session=session, run_id=run.id, path=inner)
    return FileResponse(local, media_type="application/octet-stream", headers={"X-Sha256": row.sha256})


@router.get("/artifacts")
def list_artifacts(
    session: SessionDep, principal: ApiAuth, path: Annotated[str, Query(max_length=1100), NoNul] = ""
) -> dict[str, Any]:
    """The files and folders directly inside `path` (names only, as MLflow's server lists them)."""
    run, inner = _locate(session, principal, path, access.VIEWER)
    prefix = inner.strip("/") + "/" if inner.strip("/") else ""
    entries: dict[str, dict[str, Any]] = {}
    for artifact in artifacts.list_artifacts(session=session, run_id=run.id, under=inner or None):
        name, _, rest = artifact.path[len(prefix) :].partition("/")
        if rest:
            entries.setdefault(name, {"path": name, "is_dir": True})
        else:
            entries[name] = {"path": name, "is_dir": False, "file_size": artifact.size}
    return {"files": list(entries.values())}
