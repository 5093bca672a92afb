"""Where a run's checkpoint lives on the server's disk."""

from __future__ import annotations

from pathlib import Path

from trainboard.settings import get_settings


def checkpoint_path(run_id: int) -> Path:
    """The run's checkpoint file; run_id is an int, so the path cannot leave the folder."""
    return get_settings().resolved_home / "checkpoints" / f"run-{int(run_id)}.pt"
