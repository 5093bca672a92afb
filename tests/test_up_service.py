"""`trainboard up` as a service, with real processes: SIGTERM and SIGINT stop it and every process below it
within a bounded time, a worker that dies is restarted (and `up` says so), and a busy port is refused before
anything else is printed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.processes import alive, descendants, free_port, trainboard_env, wait_until

pytestmark = pytest.mark.e2e

#: Seconds `up` may take to stop: the worker's grace (20 s) bounds it; an idle worker takes about 2.
STOP_BOUND_S = 30


@contextmanager
def trainboard_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    out = tmp_path / "up.out"
    with out.open("w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "trainboard.cli", "up", "--port", str(port)],
            env=trainboard_env(tmp_path / "home"),
            stdout=stream,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield process, port, out
    finally:
        if process.poll() is None:
            for pid in descendants(process.pid):
                os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()


def worker_ready(up: subprocess.Popen[str], port: int) -> set[int]:
    """Wait for the server to answer and the worker's training process to start; returns the processes below
    `up` (the worker's main process and its training process)."""

    def ready() -> set[int] | None:
        assert up.poll() is None, "up exited"
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
        except httpx.HTTPError:
            return None
        family = descendants(up.pid)
        return family if len(family) >= 2 else None

    return wait_until(ready, 90, "the server and the worker")  # type: ignore[no-any-return]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_up_and_every_process_below_it(tmp_path: Path, sig: signal.Signals) -> None:
    with trainboard_up(tmp_path) as (up, port, out):
        family = worker_ready(up, port)
        started = time.monotonic()
        up.send_signal(sig)
        assert up.wait(timeout=STOP_BOUND_S) == 0, out.read_text()[-2000:]
        wait_until(lambda: not any(alive(pid) for pid in family), 5, "the worker's processes to end")
        assert time.monotonic() - started < STOP_BOUND_S
    assert f"{sig.name}: stopping the worker, then the server." in out.read_text()


def test_up_restarts_a_worker_that_died_and_says_so(tmp_path: Path) -> None:
    with trainboard_up(tmp_path) as (up, port, out):
        first = worker_ready(up, port)
        (worker,) = (pid for pid in first if _parent(pid) == up.pid)
        os.kill(worker, signal.SIGKILL)
        said = "The worker stopped (killed by SIGKILL); starting a new one in "
        wait_until(lambda: said in out.read_text(), 20, "up to say so")
        again = wait_until(
            lambda: (now := descendants(up.pid)) - first and len(now) >= 2 and now, 90, "restart"
        )
        assert not any(alive(pid) for pid in first), "the dead worker's training process was left running"
        assert "Started a new worker" in out.read_text()
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=STOP_BOUND_S) == 0
        wait_until(lambda: not any(alive(pid) for pid in again), 5, "the new worker's processes to end")


def test_a_busy_port_is_refused_before_anything_is_printed(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "trainboard.cli", "up", "--port", str(port)],
            env=trainboard_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"Cannot start Trainboard: port {port} on 127.0.0.1 is already in use. Stop what uses it, or pick "
        "another port: trainboard up --port 8080 (make run PORT=8080)."
    )
    assert not (tmp_path / "home").exists(), "nothing was started or created"


def test_up_prints_the_url_as_its_last_line(tmp_path: Path) -> None:
    with trainboard_up(tmp_path) as (up, port, out):
        worker_ready(up, port)
        time.sleep(1)  # anything printed late would show now
        assert out.read_text().splitlines()[-1] == f"Trainboard is running at http://127.0.0.1:{port}"
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=STOP_BOUND_S)


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])
