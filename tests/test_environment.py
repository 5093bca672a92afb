"""What a script run says it trained with: its repository's commit and dirty flag, argv, Python, torch and
CUDA versions (without importing torch), host and platform."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from trainboard.environment import script_environment


def git(folder: Path, *args: str) -> str:
    command = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository with one commit holding train.py."""
    git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("print('training')\n")
    git(tmp_path, "add", "train.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_the_scripts_commit_argv_and_machine(repository: Path) -> None:
    argv = [str(repository / "train.py"), "--lr", "0.01"]
    environment = script_environment(argv)
    assert environment["git_commit"] == git(repository, "rev-parse", "HEAD")
    assert environment["git_dirty"] is False
    assert environment["argv"] == argv
    assert environment["python"] == platform.python_version()
    assert environment["host"] == socket.gethostname() and environment["platform"] == platform.platform()


def test_dirty_means_uncommitted_changes_to_tracked_files(repository: Path) -> None:
    argv = [str(repository / "train.py")]
    (repository / "train.log").write_text("untracked output\n")
    assert script_environment(argv)["git_dirty"] is False
    (repository / "train.py").write_text("print('changed')\n")
    assert script_environment(argv)["git_dirty"] is True


def test_outside_a_repository_or_without_git_there_is_no_git_state(
    repository: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path_factory.mktemp("not-a-repo") / "train.py"
    elsewhere.write_text("")
    environment = script_environment([str(elsewhere)])
    assert "git_commit" not in environment and "git_dirty" not in environment
    assert environment["argv"] == [str(elsewhere)]
    monkeypatch.setenv("PATH", "")  # no git to run
    assert "git_commit" not in script_environment([str(repository / "train.py")])


def test_a_very_long_argv_is_cut_short_saying_how_much_was_left_out(tmp_path: Path) -> None:
    argv = ["train.py", *(f"data/shard-{i:05d}.npz" for i in range(5000))]
    kept = script_environment(argv)["argv"]
    assert kept[:3] == argv[:3] and kept[-1] == f"... ({len(argv) - len(kept) + 1} more arguments)"
    assert sum(len(a) + 1 for a in kept[:-1]) <= 8000 < sum(len(a) + 1 for a in argv)


PROBE = """
import json, sys
{prelude}
from trainboard.environment import script_environment
environment = script_environment()
print(json.dumps({{"torch_imported": "torch" in sys.modules, "torch": environment.get("torch"),
                  "cuda": environment.get("cuda", "absent")}}))
"""


def probe(prelude: str) -> dict[str, object]:
    code = PROBE.format(prelude=prelude)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout)


def test_torch_is_never_imported_for_its_version() -> None:
    from importlib import metadata

    assert probe("") == {"torch_imported": False, "torch": metadata.version("torch"), "cuda": "absent"}


def test_with_torch_imported_its_version_and_cuda_are_read_from_it() -> None:
    import torch

    seen = probe("import torch")
    assert seen["torch_imported"] is True and seen["torch"] == torch.__version__
    assert seen["cuda"] == (torch.version.cuda or "absent")
