"""The data folder is its user's alone: it holds the SQLite database, uploaded datasets, checkpoints and
the key that signs login cookies, which others on the machine must not read."""

from __future__ import annotations

import os
from pathlib import Path

#: Files this process creates are 0600 and folders 0700.
PRIVATE_UMASK = 0o077


def keep_private() -> None:
    """From now on this process creates files only its user can read (the server, the worker and the CLI
    call this first; SQLite and Celery create their files through it too)."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """`path` and any missing parent created 0700, whatever the umask (a script using the client
    library keeps its own umask, and `mkdir(parents=True)` gives parents the default mode)."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            folder.mkdir(mode=0o700, exist_ok=True)
            folder.chmod(0o700)  # mkdir's mode passes through the umask
    return path
