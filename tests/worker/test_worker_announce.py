"""A real worker process announces its slots to the server: the project page and GET /api/v1/workers count
them while it runs, and it says goodbye when it stops, so they go at once rather than after the timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import server_process, trainboard_env, wait_until, worker_process

pytestmark = pytest.mark.e2e


def _workers(url: str) -> dict[str, Any]:
    listed: dict[str, Any] = httpx.get(f"{url}/api/v1/workers", timeout=10).json()
    return listed


def test_a_running_worker_shows_its_free_slots_and_they_go_when_it_stops(tmp_path: Path) -> None:
    env = trainboard_env(tmp_path / "home")
    with server_process(env, tmp_path / "server.log") as url:
        project = httpx.post(f"{url}/api/v1/projects", json={"name": "slots", "dataset": "digits"}).json()
        page = f"{url}/projects/{project['id']}"
        assert "No worker is running: queued runs wait" in httpx.get(page).text

        with worker_process(env, url, tmp_path / "worker.log", concurrency=2):
            listed = wait_until(
                lambda: (w := _workers(url))["count"] == 1 and w, 90, "the worker to announce"
            )
            (worker,) = listed["data"]
            assert (worker["concurrency"], worker["active_runs"], worker["device"]) == (2, 0, "cpu")
            assert listed["slots"] == {"workers": 1, "total": 2, "busy": 0, "free": 2}
            text = " ".join(httpx.get(page).text.split())
            assert "2 of 2 worker slots free</strong> (1 worker running)" in text

        # _stop waited for it to exit: its goodbye came first.
        assert _workers(url)["count"] == 0
        assert "No worker is running: queued runs wait" in httpx.get(page).text
