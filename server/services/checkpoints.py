"""Training checkpoints, stored as files under the data folder (one per run, replaced each epoch)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.orm import Session

from server.errors import NotFound, TrainboardError
from server.services.checkpoint_files import checkpoint_path
from server.services.runs import get_run

MAX_CHECKPOINT_BYTES = 2 * 1024**3


class CheckpointTooLarge(TrainboardError):
    status_code = 413


async def save_checkpoint(*, session: Session, run_id: int, chunks: AsyncIterator[bytes]) -> int:
    """Stream the body to a temporary file and swap it in, so a reader never sees half a checkpoint."""
    get_run(session=session, run_id=run_id)
    path = checkpoint_path(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".part{os.getpid()}")
    size = 0
    try:
        with partial.open("wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_CHECKPOINT_BYTES:
                    raise CheckpointTooLarge(f"Checkpoint is larger than {MAX_CHECKPOINT_BYTES} bytes")
                handle.write(chunk)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return size


def find_checkpoint(*, session: Session, run_id: int) -> Path:
    get_run(session=session, run_id=run_id)
    path = checkpoint_path(run_id)
    if not path.exists():
        raise NotFound("Checkpoint of run", run_id)
    return path
