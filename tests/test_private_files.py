"""What Trainboard writes to its data folder (the database, uploads, checkpoints, the cookie-signing key) is
its user's alone, whatever umask it was started with: files 0600, folders 0700. Before, a default umask
left the SQLite database and the uploads readable by every user of the machine."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from server import auth
from tests.dataset_files import good_npz
from tests.processes import server_process, trainboard_env
from trainboard.files import private_dir
from trainboard.settings import get_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    """The usual umask (022: files 0644, folders 0755) while a process starts, as a user's shell has it."""
    before = os.umask(value)
    try:
        yield
    finally:
        os.umask(before)


def test_private_dir_makes_missing_parents_0700(tmp_path: Path) -> None:
    with umask(0o022):
        private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700, 0o700, 0o700]


def test_the_cookie_key_is_created_0600_in_a_0700_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRAINBOARD_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    auth.secret_key.cache_clear()
    try:
        with umask(0o022):
            key = auth.secret_key()
    finally:
        get_settings.cache_clear()
        auth.secret_key.cache_clear()
    assert len(key) == 64
    assert mode(tmp_path / "home") == 0o700
    assert mode(tmp_path / "home" / "secret_key") == 0o600


@pytest.mark.e2e
def test_a_served_data_folder_is_readable_by_its_user_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = trainboard_env(home)
    with umask(0o022), server_process(env, tmp_path / "server.log") as url:
        upload = httpx.post(
            f"{url}/api/v1/datasets",
            data={"name": "private"},
            files={"file": ("x.npz", good_npz(), "application/octet-stream")},
        )
        assert upload.status_code == 201, upload.text
        project = httpx.post(f"{url}/api/v1/projects", json={"name": "p", "dataset": "digits"}).json()
        run = httpx.post(f"{url}/api/v1/runs", json={"project_id": project["id"], "external": True}).json()
        assert httpx.put(f"{url}/api/v1/runs/{run['id']}/checkpoint", content=b"weights").status_code == 204
    assert mode(home) == 0o700
    files = [home / "trainboard.db", *(home / "datasets").iterdir(), *(home / "checkpoints").iterdir()]
    assert len(files) == 3
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    assert {mode(home / "datasets"), mode(home / "checkpoints")} == {0o700}
