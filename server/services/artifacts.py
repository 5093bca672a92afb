"""A run's artifacts (models, plots, any file): bytes in a store, one row each (path, size, sha256).

The store is a small interface (`ArtifactStore`), and the one kept now is a folder under the data folder:
`artifacts/run-<id>/<path>`. Uploads are streamed to a temporary file beside the target and swapped in,
hashed on the way and stopped at `TRAINBOARD_MAX_ARTIFACT_MB`, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import DomainError, InvalidInput, NotFound
from server.files import replacing
from server.services.runs import get_run
from server.tables import RunArtifact, utcnow
from trainboard.settings import get_settings

MAX_PATH_CHARS = 1000
# A file system takes 255 bytes a name; the temporary file beside the target adds about 20.
MAX_NAME_BYTES = 200


class ArtifactTooLarge(DomainError):
    status_code = 413


@dataclass(frozen=True)
class Written:
    size: int
    sha256: str


class ArtifactStore(Protocol):
    """Where artifact bytes live; paths are already checked (`clean_path`)."""

    async def write(self, run_id: int, path: str, chunks: AsyncIterator[bytes], limit: int) -> Written: ...

    def local_file(self, run_id: int, path: str) -> Path: ...


class FolderStore:
    """Artifacts as files under `root/run-<id>/`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local_file(self, run_id: int, path: str) -> Path:
        return self.root / f"run-{int(run_id)}" / path

    async def write(self, run_id: int, path: str, chunks: AsyncIterator[bytes], limit: int) -> Written:
        digest, size = hashlib.sha256(), 0
        with replacing(self.local_file(run_id, path)) as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise ArtifactTooLarge(
                        f"Artifact {path!r} is larger than the {limit / 1024**2:g} MiB limit "
                        "(TRAINBOARD_MAX_ARTIFACT_MB)"
                    )
                digest.update(chunk)
                handle.write(chunk)
        return Written(size, digest.hexdigest())


def get_store() -> ArtifactStore:
    return FolderStore(get_settings().resolved_home / "artifacts")


def clean_path(path: str, field: list[str | int] | None = None) -> str:
    """A relative path with no '..', no empty or '.' parts, no backslash or NUL; InvalidInput otherwise."""
    loc = field or ["path", "path"]
    parts = PurePosixPath(path).parts
    if (
        not path
        or len(path) > MAX_PATH_CHARS
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("..", ".") for p in path.split("/"))
        or "" in path.split("/")
        or not parts
        or any(len(part.encode()) > MAX_NAME_BYTES for part in parts)
    ):
        raise InvalidInput(
            loc,
            f"Artifact path {path[:100]!r}: expected a relative path such as 'model/weights.pt', "
            f"without '..' or empty parts, each part at most {MAX_NAME_BYTES} bytes",
        )
    return "/".join(parts)


async def save_artifact(
    *, session: Session, run_id: int, path: str, chunks: AsyncIterator[bytes]
) -> RunArtifact:
    """Store (or replace) the run's file at `path`."""
    get_run(session=session, run_id=run_id)
    path = clean_path(path)
    if any(a.path.startswith(path + "/") for a in list_artifacts(session=session, run_id=run_id)):
        raise InvalidInput(["path", "path"], f"Artifact path {path!r} is a folder of this run's artifacts")
    limit = int(get_settings().max_artifact_mb * 1024**2)
    written = await get_store().write(run_id, path, chunks, limit)
    row = session.merge(
        RunArtifact(run_id=run_id, path=path, size=written.size, sha256=written.sha256, created_at=utcnow())
    )
    session.commit()
    return row


def list_artifacts(*, session: Session, run_id: int, under: str | None = None) -> list[RunArtifact]:
    """The run's files, by path; with `under`, only those inside that folder."""
    query = select(RunArtifact).where(RunArtifact.run_id == run_id).order_by(RunArtifact.path)
    found = list(session.scalars(query))
    if under:
        prefix = clean_path(under, ["query", "path"]) + "/"
        found = [a for a in found if a.path.startswith(prefix)]
    return found


def find_artifact(*, session: Session, run_id: int, path: str) -> tuple[RunArtifact, Path]:
    """The row and the local file of the run's artifact at `path`, or NotFound."""
    get_run(session=session, run_id=run_id)
    row = session.get(RunArtifact, (run_id, clean_path(path)))
    local = get_store().local_file(run_id, clean_path(path)) if row is not None else None
    if row is None or local is None or not local.is_file():
        raise NotFound("Artifact", f"{path!r} of run {run_id}")
    return row, local
