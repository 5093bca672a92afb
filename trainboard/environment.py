"""What a run trains with, sent with it: the script's git commit and argv, Python, torch and CUDA, host."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: git answers in milliseconds; a hung network file system must not hold up the start of training.
GIT_TIMEOUT_S = 2.0
#: argv kept in the environment, in characters: the server takes at most 20,000 characters of environment.
MAX_ARGV_CHARS = 8000


def _git(folder: Path, *args: str) -> str | None:
    """git's output in `folder`, or None without git, outside a repository or past the timeout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(folder: Path) -> dict[str, Any]:
    """{"git_commit", "git_dirty"} of the repository holding `folder`; {} when there is none.

    Dirty means uncommitted changes to tracked files (an untracked log file does not count)."""
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return {}
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    state: dict[str, Any] = {"git_commit": commit.strip()}
    if status is not None:
        state["git_dirty"] = bool(status.strip())
    return state


def torch_versions() -> dict[str, Any]:
    """torch's version, and CUDA's when torch is already imported; never imports torch (seconds)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        versions = {"torch": str(torch.__version__)}
        cuda = getattr(getattr(torch, "version", None), "cuda", None)
        if cuda:
            versions["cuda"] = str(cuda)
        return versions
    try:
        return {"torch": metadata.version("torch")}  # the installed package's metadata: no import
    except metadata.PackageNotFoundError:
        return {}


def machine() -> dict[str, Any]:
    """Host, platform and the Python and torch/CUDA versions of this process."""
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **torch_versions(),
    }


def bounded(argv: list[str], max_chars: int = MAX_ARGV_CHARS) -> list[str]:
    """argv as given, or, when longer than `max_chars` in all (a glob of ten thousand files), its first
    arguments and a last one that says how many were left out."""
    kept: list[str] = []
    used = 0
    for index, argument in enumerate(argv):
        used += len(argument) + 1
        if used > max_chars:
            return [*kept, f"... ({len(argv) - index} more arguments)"]
        kept.append(argument)
    return kept


def script_environment(argv: list[str] | None = None) -> dict[str, Any]:
    """The environment of a training script: `machine()`, its argv and its repository's git state (the
    folder of the script that runs, or the working folder for `python -c` and notebooks)."""
    argv = [str(argument) for argument in (sys.argv if argv is None else argv)]
    script = Path(argv[0]) if argv and argv[0] else None
    folder = script.resolve().parent if script is not None and script.is_file() else Path.cwd()
    return {**git_state(folder), "argv": bounded(argv), **machine()}


__all__ = ["bounded", "git_state", "machine", "script_environment", "torch_versions"]
