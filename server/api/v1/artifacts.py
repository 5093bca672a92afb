"""A run's artifacts: upload (raw body, streamed), list, download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse

from server.api.deps import IdPath
from server.auth import ApiAuth
from server.body_guard import body_limit
from server.db import SessionDep
from server.schemas import ArtifactRead, NoNul
from server.services import artifacts

router = APIRouter(prefix="/runs", tags=["artifacts"])
ArtifactPath = Annotated[str, Path(min_length=1, max_length=artifacts.MAX_PATH_CHARS), NoNul]


@router.put("/{run_id}/artifacts/{path:path}", status_code=201)
@body_limit(None)  # streamed to disk against TRAINBOARD_MAX_ARTIFACT_MB
async def upload_artifact(
    run_id: IdPath, path: ArtifactPath, request: Request, session: SessionDep, _: ApiAuth
) -> ArtifactRead:
    """Store a file under the run (replacing one at the same path)."""
    row = await artifacts.save_artifact(session=session, run_id=run_id, path=path, chunks=request.stream())
    return ArtifactRead.model_validate(row)


@router.get("/{run_id}/artifacts")
def read_artifacts(run_id: IdPath, session: SessionDep, _: ApiAuth) -> list[ArtifactRead]:
    """The run's files: path, size and sha256."""
    return [ArtifactRead.model_validate(a) for a in artifacts.list_artifacts(session=session, run_id=run_id)]


@router.get("/{run_id}/artifacts/{path:path}", response_class=FileResponse)
def download_artifact(run_id: IdPath, path: ArtifactPath, session: SessionDep, _: ApiAuth) -> FileResponse:
    """The file's bytes."""
    row, local = artifacts.find_artifact(session=session, run_id=run_id, path=path)
    return FileResponse(local, media_type="application/octet-stream", headers={"X-Sha256": row.sha256})
