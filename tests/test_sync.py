"""`trainboard sync`: points that a run could not send before its process ended reach the server later, and
offline runs are created there once, however often it runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import trainboard
from trainboard import _session
from trainboard._spool import OWNER_FILE, PointBuffer
from trainboard.cli import sync
from trainboard.client import BaseRun, Client, OfflineRun
from trainboard.settings import get_settings


def ended_process_id() -> int:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(finished.stdout)


def spool(root: Path, run_id: int, steps: range, owner_pid: int) -> Path:
    buffer = PointBuffer(max_memory_points=10, spool_root=root, prefix=f"run-{run_id}-")
    buffer.add([{"key": "loss", "step": step, "value": step / 10} for step in steps])
    folder = buffer.spill()
    assert folder is not None
    (folder / OWNER_FILE).write_text(str(owner_pid))
    return folder


def test_sync_sends_what_ended_runs_left_on_disk_and_leaves_live_ones_alone(
    client: TestClient, tmp_path: Path
) -> None:
    project_id = client.post("/api/v1/projects", json={"name": "spooled", "dataset": "external"}).json()["id"]
    run_id = client.post("/api/v1/runs", json={"project_id": project_id, "external": True}).json()["id"]
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    ended = spool(tmp_path, run_id, range(1, 26), owner_pid=gone)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live_process:
        try:
            live = spool(tmp_path, run_id, range(100, 105), owner_pid=live_process.pid)
            api = Client("http://testserver", token="", transport=client._transport)  # type: ignore[attr-defined]
            assert sync(tmp_path, client=api) == 0
        finally:
            live_process.kill()
    points = client.get(f"/api/v1/runs/{run_id}/metrics/loss").json()["points"]
    assert [step for step, _ in points] == list(range(1, 26))
    assert not ended.exists()
    assert list(live.glob("*.jsonl")), "a live process sends its own points"


def test_sync_keeps_the_points_when_the_server_refuses_them(client: TestClient, tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    folder = spool(tmp_path, 999_999, range(1, 5), owner_pid=gone)  # no such run
    api = Client("http://testserver", token="", transport=client._transport)  # type: ignore[attr-defined]
    assert sync(tmp_path, client=api) == 1
    assert list(folder.glob("*.jsonl")), "refused points must stay on disk"


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A data folder of the test's own (offline runs go to its spool/)."""
    monkeypatch.setenv("TRAINBOARD_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    _session.current = None
    monkeypatch.undo()
    get_settings.cache_clear()


def api_client(client: TestClient) -> Client:
    return Client("http://testserver", token="", transport=client._transport)  # type: ignore[attr-defined]


def offline_run(project: str = "offline") -> BaseRun:
    """An offline run with three epochs, a summary value, two dev predictions, finished."""
    run = trainboard.init(
        project=project,
        config={"lr": 0.01, "model.hidden": 64},
        tags=["laptop", "no-network"],
        notes="Trained on the train.",
        group="lr 0.01",
        human_level_error=0.03,
        mode="offline",
    )
    for epoch in range(1, 4):
        run.log({"train_error": 0.3 / epoch, "dev_error": 0.4 / epoch, "loss": 1 / epoch})
    run.summary["best_dev_error"] = 0.4 / 3
    rows = [{"example_id": "a", "label": 1, "predicted": 0, "confidence": 0.9}]
    run.log_predictions("dev", [*rows, {"example_id": "b", "label": 1, "predicted": 1, "confidence": 0.8}])
    run.finish()
    return run


def test_an_offline_run_synced_twice_is_one_run_with_every_point_once(client: TestClient, data: Path) -> None:
    run = offline_run()
    kept = data / "copy"
    shutil.copytree(run.folder, kept)  # as if the first sync died before deleting the folder
    assert sync(data / "spool", client=api_client(client)) == 0
    assert not run.folder.exists()
    shutil.copytree(kept, run.folder)
    assert sync(data / "spool", client=api_client(client)) == 0
    project = client.get("/api/v1/projects", params={"name": "offline"}).json()["items"][0]
    assert project["human_level_error"] == 0.03
    [synced] = client.get("/api/v1/runs", params={"project_id": project["id"]}).json()["items"]
    assert synced["status"] == "succeeded"
    assert synced["params"] == {"lr": 0.01, "model.hidden": 64}
    assert (synced["tags"], synced["notes"], synced["group"]) == (
        ["laptop", "no-network"], "Trained on the train.", "lr 0.01"
    )  # fmt: skip
    assert synced["environment"]["argv"] == sys.argv
    for key in ("train_error", "dev_error", "loss"):
        points = client.get(f"/api/v1/runs/{synced['id']}/metrics/{key}").json()["points"]
        assert [step for step, _ in points] == [1, 2, 3]
    assert synced["summary"]["best_dev_error"] == pytest.approx(0.4 / 3)
    errors = client.get(f"/api/v1/runs/{synced['id']}/errors").json()
    assert [e["example_id"] for e in errors["items"]] == ["a"]
    assert list((data / "spool").iterdir()) == []


def test_an_offline_run_whose_creation_reached_the_server_is_not_created_twice(
    client: TestClient, data: Path
) -> None:
    """The server created the run but its reply was lost, and init went offline: sync finds that run."""
    server = client._transport  # type: ignore[attr-defined]

    def reply_lost(request: httpx.Request) -> httpx.Response:
        response = server.handle_request(request)
        if request.url.path == "/api/v1/runs":
            raise httpx.ReadError("connection reset")
        return response

    lossy = Client(
        "http://testserver", token="", transport=httpx.MockTransport(reply_lost), sleep=lambda _: 0
    )
    run = trainboard.init(project="lossy", client=lossy)
    assert isinstance(run, OfflineRun)
    run.log({"loss": 0.5})
    run.finish()
    assert sync(data / "spool", client=api_client(client)) == 0
    project_id = client.get("/api/v1/projects", params={"name": "lossy"}).json()["items"][0]["id"]
    [synced] = client.get("/api/v1/runs", params={"project_id": project_id}).json()["items"]
    assert synced["summary"] == {"loss": 0.5} and synced["status"] == "succeeded"


def test_an_unreachable_server_at_init_runs_offline_and_syncs_later(
    client: TestClient, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    away = Client("http://tb.test", token="", transport=httpx.MockTransport(refuse), sleep=lambda _: 0)
    with trainboard.init(project="away", config={"lr": 0.1}, client=away) as run:
        for step in range(1, 6):
            trainboard.log({"loss": 1 / step})
    assert "cannot reach http://tb.test" in capsys.readouterr().err
    assert sync(data / "spool", client=api_client(client)) == 0
    assert f"offline-{run.id}: created run" in capsys.readouterr().out
    project_id = client.get("/api/v1/projects", params={"name": "away"}).json()["items"][0]["id"]
    [synced] = client.get("/api/v1/runs", params={"project_id": project_id}).json()["items"]
    points = client.get(f"/api/v1/runs/{synced['id']}/metrics/loss").json()["points"]
    assert [step for step, _ in points] == [1, 2, 3, 4, 5] and synced["params"] == {"lr": 0.1}


KILLED_SCRIPT = """
import os, signal, trainboard
run = trainboard.init(project="killed", mode="offline")
for step in range(1, 1201):
    run.log({"loss": 1 / step})
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_an_offline_run_killed_midway_syncs_as_failed_with_what_reached_the_disk(
    client: TestClient, data: Path
) -> None:
    env = {**os.environ, "TRAINBOARD_HOME": str(data)}
    subprocess.run([sys.executable, "-c", KILLED_SCRIPT], env=env, check=False, timeout=60)
    assert sync(data / "spool", client=api_client(client)) == 0
    project_id = client.get("/api/v1/projects", params={"name": "killed"}).json()["items"][0]["id"]
    [synced] = client.get("/api/v1/runs", params={"project_id": project_id}).json()["items"]
    assert synced["status"] == "failed" and "before run.finish()" in synced["error"]
    points = client.get(f"/api/v1/runs/{synced['id']}/metrics/loss").json()["points"]
    steps = [step for step, _ in points]
    # Written out at least every 1,000 points (the file's buffer may have written more, the last line cut
    # short by the kill, which sync skips): what arrives is the run's first points, in order.
    assert 1000 <= len(steps) < 1200 and steps == list(range(1, len(steps) + 1))


def test_a_refused_offline_run_stays_on_disk(client: TestClient, data: Path) -> None:
    run = trainboard.init(project="refused", mode="offline")
    run.finish()
    spec = json.loads((run.folder / "run.json").read_text())
    (run.folder / "run.json").write_text(json.dumps({**spec, "group": "x" * 300}))  # the server says 422
    assert sync(data / "spool", client=api_client(client)) == 1
    assert (run.folder / "run.json").is_file()
