"""`run.log_artifact(path, name=None)`: online the file is uploaded (streamed) and listed on the run with its
size and sha256; offline it waits in the run's folder and `trainboard sync` uploads it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import trainboard
from trainboard import _session
from trainboard.cli import sync
from trainboard.client import Client, Run
from trainboard.settings import get_settings


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("TRAINBOARD_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    _session.current = None
    monkeypatch.undo()
    get_settings.cache_clear()


def api_client(client: TestClient) -> Client:
    return Client("http://testserver", token="", transport=client._transport)  # type: ignore[attr-defined]


def online_run(client: TestClient) -> Run:
    project_id = client.post("/api/v1/projects", json={"name": "art", "dataset": "external"}).json()["id"]
    made = client.post("/api/v1/runs", json={"project_id": project_id, "external": True}).json()
    return Run(api_client(client), made, flush_interval_s=None, heartbeat_interval_s=None)


def test_log_artifact_uploads_the_file_and_the_run_lists_it_with_size_and_sha256(
    client: TestClient, data: Path
) -> None:
    blob = bytes(range(256)) * 9000  # 2.3 MB: three 1 MiB chunks
    (data / "weights.bin").write_bytes(blob)
    run = online_run(client)
    record = run.log_artifact(data / "weights.bin", name="model/best.pt")
    assert record["path"] == "model/best.pt"
    assert record["sha256"] == hashlib.sha256(blob).hexdigest()
    run.log_artifact(str(data / "weights.bin"))  # default name: the file's name
    listed = {a["path"]: a for a in client.get(f"/api/v1/runs/{run.id}/artifacts").json()}
    assert set(listed) == {"model/best.pt", "weights.bin"}
    assert listed["weights.bin"]["size"] == len(blob)
    assert client.get(f"/api/v1/runs/{run.id}/artifacts/model/best.pt").content == blob
    run.finish()


@pytest.mark.parametrize("name", ["../escape", "/abs", "a//b", ""])
def test_a_name_that_is_not_a_relative_path_is_refused_before_uploading(
    client: TestClient, data: Path, name: str
) -> None:
    (data / "f").write_bytes(b"x")
    run = online_run(client)
    with pytest.raises(ValueError, match="relative path"):
        run.log_artifact(data / "f", name=name)
    run.finish()


def test_an_offline_run_keeps_its_artifacts_until_sync_uploads_them(client: TestClient, data: Path) -> None:
    (data / "ckpt.pt").write_bytes(b"checkpoint bytes")
    run = trainboard.init(project="offline-art", mode="offline")
    assert run.log_artifact(data / "ckpt.pt", name="model/best.pt") is None
    run.finish()
    assert sync(data / "spool", client=api_client(client)) == 0
    project = client.get("/api/v1/projects", params={"name": "offline-art"}).json()["items"][0]
    [synced] = client.get("/api/v1/runs", params={"project_id": project["id"]}).json()["items"]
    [artifact] = client.get(f"/api/v1/runs/{synced['id']}/artifacts").json()
    assert (artifact["path"], artifact["size"]) == ("model/best.pt", len(b"checkpoint bytes"))
