"""The broker restarts with 20 runs queued and 2 running, and no run is lost or trained twice: a Redis of the
test's own (no persistence, so the restart loses every message), a real server and a real worker.

The running runs keep training through the outage (they report to the server, not the broker), the worker
reconnects, and the server's reaper sees queued runs that the broker no longer holds and sends them again.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.backends import IN_CI, reachable
from tests.processes import (
    TERMINAL,
    free_port,
    server_process,
    trainboard_env,
    wait_until,
    worker_process,
)
from trainboard.client import Client

pytestmark = pytest.mark.e2e

EPOCHS = 3
EPOCH_KEYS = ("train_error", "train_dev_error", "dev_error", "test_error", "train_loss", "dev_loss", "lr")


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed: this test restarts a Redis of its own"
        if IN_CI:
            pytest.fail(message + " (CI=true: it is required)")
        pytest.skip(message)
    return binary


@contextmanager
def redis_server(binary: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis that keeps nothing on disk (no RDB, no AOF), so that a restart loses every message."""
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    try:
        wait_until(lambda: reachable(f"redis://127.0.0.1:{port}"), 10, "redis-server to start")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def statuses(client: Client, run_ids: list[int]) -> dict[int, dict]:  # type: ignore[type-arg]
    return {run_id: client.get_run(run_id) for run_id in run_ids}


def steps_of(client: Client, run_id: int, key: str) -> list[int]:
    series = client.request("GET", f"/runs/{run_id}/metrics/{key}")
    assert series is not None
    return [int(step) for step, _ in series.json()["points"]]


def test_broker_restart_with_runs_queued_and_running_loses_none(tmp_path: Path) -> None:
    binary = redis_server_binary()
    port = free_port()
    env = trainboard_env(
        tmp_path / "home",
        broker_url=f"redis://127.0.0.1:{port}/0",
        reaper_interval_s="0.5",
        requeue_after_s="3",
        torch_threads="1",
    )
    worker_log = tmp_path / "worker.log"
    hparams = {"epochs": EPOCHS, "batch_size": 8}
    with (
        redis_server(binary, port, tmp_path / "redis.log") as redis,
        server_process(env, tmp_path / "server.log") as url,
        Client(server_url=url) as client,
        worker_process(env, url, worker_log, concurrency=2),
    ):
        project = client.get_or_create_project("broker-faults", dataset="digits")
        config = {"model": {"name": "mlp", "hidden": [16]}, "hparams": hparams}
        run_ids = [
            int(client.create_run(project["id"], config=config, external=False)["id"]) for _ in range(22)
        ]

        def two_running() -> dict[int, dict] | None:  # type: ignore[type-arg]
            runs = statuses(client, run_ids)
            running = {i: run for i, run in runs.items() if run["status"] == "running"}
            return running if len(running) == 2 else None

        running_at_crash = wait_until(two_running, 60, "two runs to start")
        redis.send_signal(signal.SIGKILL)
        redis.wait(timeout=10)
        queued_at_crash = [i for i, run in statuses(client, run_ids).items() if run["status"] == "queued"]
        wait_until(lambda: "Connection to broker lost" in worker_log.read_text(), 15, "the worker to notice")
        time.sleep(3)
        # The two runs train on without the broker (they report to the server) and finish before it is back.
        wait_until(
            lambda: all(client.get_run(i)["status"] == "succeeded" for i in running_at_crash),
            60,
            "the two running runs to finish while the broker is down",
        )

        with redis_server(binary, port, tmp_path / "redis.log"):

            def all_finished() -> dict[int, dict] | None:  # type: ignore[type-arg]
                runs = statuses(client, run_ids)
                return runs if all(run["status"] in TERMINAL for run in runs.values()) else None

            finished = wait_until(all_finished, 90, "every run to finish after the broker came back")
        log = worker_log.read_text()
        assert len(queued_at_crash) >= 18, queued_at_crash
        for run_id, run in finished.items():
            assert run["status"] == "succeeded", f"run {run_id}: {run['error']}\n{log[-3000:]}"
            # One claim each: the runs that were training went on through the outage, and every message
            # the reaper sent again was the only one left for its run.
            assert run["attempt"] == 1, f"run {run_id} was claimed {run['attempt']} times"
            for key in EPOCH_KEYS:
                assert steps_of(client, run_id, key) == list(range(1, EPOCHS + 1)), (run_id, key)
    # The reaper read Redis on every pass: it left alone the queued runs whose message was still there, and
    # after the restart sent each lost one once.
    reaped = re.findall(r"lost by the broker \[([\d, ]*)\]", (tmp_path / "server.log").read_text())
    resent = [int(run_id) for found in reaped for run_id in found.split(",") if run_id.strip()]
    assert sorted(resent) == sorted(queued_at_crash)
