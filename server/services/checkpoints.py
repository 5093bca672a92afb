"""Training checkpoints, stored as files under the data folder (one per run, replaced each epoch)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.orm import Session

from server.errors import DomainError, NotFound
from server.files import replacing
from server.services.checkpoint_files import checkpoint_path
from server.services.runs import get_run

MAX_CHECKPOINT_BYTES = 2 * 1024**3


class CheckpointTooLarge(DomainError):
    status_code = 413


async def save_checkpoint(*, session: Session, run_id: int, chunks: AsyncIterator[bytes]) -> int:
    """Stream the body to a temporary file of its own and swap it in: a reader never sees half a checkpoint,
    and two uploads at once store one of them whole."""
    get_run(session=session, run_id=run_id)
    size = 0
    with replacing(checkpoint_path(run_id)) as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > MAX_CHECKPOINT_BYTES:
                raise CheckpointTooLarge(f"Checkpoint is larger than {MAX_CHECKPOINT_BYTES} bytes")
            handle.write(chunk)
    return size


def find_checkpoint(*, session: Session, run_id: int) -> Path:
    get_run(session=session, run_id=run_id)
    path = checkpoint_path(run_id)
    if not path.exists():
        raise NotFound("Checkpoint of run", run_id)
    return path
