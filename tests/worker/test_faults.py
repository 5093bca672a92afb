"""Runs that survive faults, with real server and worker processes: a SIGKILLed training process, a
cancel, a diverging loss, and a worker that dies entirely (the reaper re-queues, then fails the run)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import server_process, trainboard_env, wait_for_run, wait_until, worker_process
from trainboard.client import Client

pytestmark = pytest.mark.e2e

EPOCH_KEYS = ("train_error", "train_dev_error", "dev_error", "test_error", "train_loss", "dev_loss", "lr")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Path]]:
    """One server and one worker (its own process group) for the tests that keep the worker alive."""
    home = tmp_path_factory.mktemp("faults")
    env = trainboard_env(home / "home")
    with (
        server_process(env, home / "server.log") as url,
        worker_process(env, url, home / "worker.log", own_group=True),
        Client(server_url=url) as client,
    ):
        yield client, home / "worker.log"


def submit(client: Client, dataset: str, model: dict[str, Any], hparams: dict[str, Any]) -> int:
    project = client.get_or_create_project(f"faults-{dataset}", dataset=dataset)
    run = client.create_run(project["id"], config={"model": model, "hparams": hparams}, external=False)
    return int(run["id"])


def wait_for_epoch(client: Client, run_id: int, epoch: int, timeout: float = 90) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        run = client.get_run(run_id)
        assert run["status"] in ("queued", "running"), run
        done = (
            run["summary"].get("train_error") is not None and (run["progress"] or {}).get("epoch", 0) > epoch
        )
        return run if done else None

    return wait_until(reached, timeout, f"run {run_id} to pass epoch {epoch}")


def steps_of(client: Client, run_id: int, key: str) -> list[int]:
    series = client.request("GET", f"/runs/{run_id}/metrics/{key}")
    assert series is not None
    return [int(step) for step, _ in series.json()["points"]]


def test_sigkilled_training_process_resumes_from_its_checkpoint(stack: tuple[Client, Path]) -> None:
    client, log = stack
    # Batch 1 (215 steps an epoch on a fifth of digits) through a [256, 256] MLP: ~0.2 s an epoch, ~8 s in
    # all, so the run is still training when the first heartbeat (2 s) shows it past epoch 1 and the test
    # kills it.
    epochs = 40
    model = {"name": "mlp", "hidden": [256, 256]}
    run_id = submit(client, "digits", model, {"epochs": epochs, "batch_size": 1, "train_fraction": 0.2})
    running = wait_for_epoch(client, run_id, 1)  # killed during epoch 2, after the first checkpoint
    host, _, pid = running["worker"].rpartition(":")
    os.kill(int(pid), signal.SIGKILL)

    run = wait_for_run(client, run_id, timeout=120)
    assert run["status"] == "succeeded", f"{run['error']}\n{log.read_text()[-3000:]}"
    assert run["attempt"] == 2
    assert run["worker"] != running["worker"]
    for key in EPOCH_KEYS:
        assert steps_of(client, run_id, key) == list(range(1, epochs + 1)), key
    assert "resuming after epoch" in log.read_text()


def test_cancel_stops_a_running_run(stack: tuple[Client, Path]) -> None:
    client, log = stack
    run_id = submit(client, "digits", {"name": "mlp", "hidden": [32]}, {"epochs": 200, "batch_size": 8})
    wait_for_epoch(client, run_id, 0)
    cancelled = client.request("POST", f"/runs/{run_id}/cancel")
    assert cancelled is not None and cancelled.json()["status"] == "cancelled"
    # The worker learns of it at its next heartbeat (at most 2 s apart) and stops mid-epoch.
    wait_until(
        lambda: f"run {run_id} is cancelled on the server; stopping" in log.read_text(), 10, "the stop"
    )
    stopped = client.get_run(run_id)
    time.sleep(2.5)
    later = client.get_run(run_id)
    assert later["status"] == "cancelled"
    assert later["progress"] == stopped["progress"]
    assert later["summary"] == stopped["summary"]
    assert stopped["summary"].get("dev_error") is None or steps_of(client, run_id, "dev_error")[-1] < 200


def test_diverging_run_ends_diverged_with_a_reason(stack: tuple[Client, Path]) -> None:
    client, _ = stack
    model = {"name": "mlp", "hidden": [64, 64, 64]}
    run_id = submit(client, "digits", model, {"epochs": 5, "batch_size": 32, "lr": 10, "optimizer": "sgd"})
    run = wait_for_run(client, run_id, timeout=90)
    assert run["status"] == "diverged"
    assert run["error"].startswith("loss became NaN at epoch 1, step ") or "infinite" in run["error"]
    assert run["error"].endswith("try a lower learning rate or gradient clipping")


def kill_group(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def test_reaper_requeues_a_run_whose_worker_died_then_fails_it(tmp_path: Path) -> None:
    env = trainboard_env(
        tmp_path / "home", heartbeat_timeout_s="4", reaper_interval_s="0.5", max_attempts="2"
    )
    hparams = {"epochs": 200, "batch_size": 8}
    with server_process(env, tmp_path / "server.log") as url, Client(server_url=url) as client:
        run_id = submit(client, "digits", {"name": "mlp", "hidden": [32]}, hparams)
        for attempt in (1, 2):
            with worker_process(env, url, tmp_path / "worker.log", own_group=True) as worker:

                def started(attempt: int = attempt) -> bool:
                    run = client.get_run(run_id)
                    return run["status"] == "running" and run["attempt"] == attempt

                wait_until(started, 60, f"attempt {attempt} to start")
                kill_group(worker)
            if attempt == 1:
                requeued = wait_until(
                    lambda: (run := client.get_run(run_id))["status"] == "queued" and run, 30, "the re-queue"
                )
                # Queued again, saying why: the run page shows "interrupted, resuming" with this reason.
                assert "stopped reporting" in requeued["error"]
        failed = wait_for_run(client, run_id, timeout=30)
    assert failed["status"] == "failed"
    assert failed["error"] == (
        "the worker stopped reporting (no heartbeat for 4 s) on each of 2 attempts; check the worker's log"
    )
