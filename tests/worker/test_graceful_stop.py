"""A worker that is stopped (SIGTERM from docker or systemd, Ctrl+C in its terminal) hands its run back at
once: queued again with the reason, then resumed from its checkpoint by the next worker (real processes)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import (
    alive,
    descendants,
    server_process,
    trainboard_env,
    wait_for_run,
    wait_until,
    worker_process,
)
from tests.worker.test_faults import EPOCH_KEYS, steps_of, submit, wait_for_epoch
from trainboard.client import Client

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(lambda pid: os.kill(pid, signal.SIGTERM), id="SIGTERM to the worker"),
        # A terminal's Ctrl+C reaches the whole process group; the training processes ignore it.
        pytest.param(lambda pid: os.killpg(pid, signal.SIGINT), id="Ctrl+C in its terminal"),
    ],
)
def test_a_stopped_worker_hands_its_run_back_and_the_next_one_resumes_it(tmp_path: Path, stop) -> None:  # type: ignore[no-untyped-def]
    # A heartbeat timeout far longer than the test: only the hand-back can re-queue the run in time.
    env = trainboard_env(tmp_path / "home", heartbeat_timeout_s="600", reaper_interval_s="1")
    log = tmp_path / "worker.log"
    epochs = 40
    model, hparams = (
        {"name": "mlp", "hidden": [256, 256]},
        {"epochs": epochs, "batch_size": 1, "train_fraction": 0.2},
    )
    with server_process(env, tmp_path / "server.log") as url, Client(server_url=url) as client:
        run_id = submit(client, "digits", model, hparams)
        with worker_process(env, url, log, own_group=True) as worker:
            running = wait_for_epoch(client, run_id, 1)
            family = descendants(worker.pid) | {worker.pid}
            stopped_at = time.monotonic()
            stop(worker.pid)
            queued = wait_until(
                lambda: (run := client.get_run(run_id))["status"] == "queued" and run, 15, "the hand-back"
            )
            handed_back_s = time.monotonic() - stopped_at
            worker.wait(timeout=20)
        assert handed_back_s < 10, f"handed back after {handed_back_s:.1f} s"
        assert queued["error"].startswith(f"handed back by {running['worker']}: the worker was stopped")
        assert queued["attempt"] == 0  # a graceful stop does not count against max_attempts
        assert not any(alive(pid) for pid in family), "a worker process outlived the stop"

        with worker_process(env, url, log, own_group=True):
            run = wait_for_run(client, run_id, timeout=150)
        assert run["status"] == "succeeded", f"{run['error']}\n{log.read_text()[-3000:]}"
        assert run["attempt"] == 1 and run["error"] is None
        for key in EPOCH_KEYS:
            assert steps_of(client, run_id, key) == list(range(1, epochs + 1)), key
        assert "resuming after epoch" in log.read_text()

        # The run page's attempt history: who trained it, how each attempt ended, where the last resumed. The
        # stopping worker does not take the handed-back message again (it claimed and handed it back once or
        # twice more before its pool processes refused new runs): two attempts.
        attempts = client.request("GET", f"/runs/{run_id}/attempts").json()
        stopped, last = attempts
        assert stopped["worker"] == running["worker"] and stopped["resumed_from_epoch"] == 1
        assert stopped["outcome"] == "handed_back"
        assert last["outcome"] == "succeeded" and last["worker"] != running["worker"]
        assert 1 < last["resumed_from_epoch"] <= epochs
        page = " ".join(httpx.get(f"{url}/runs/{run_id}").text.split())
        assert "handed back on stop" in page and f"<code>{last['worker']}</code>" in page
