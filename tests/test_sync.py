"""`trainboard sync`: points that a run could not send before its process ended reach the server later."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from trainboard._spool import OWNER_FILE, PointBuffer
from trainboard.cli import sync
from trainboard.client import Client


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
