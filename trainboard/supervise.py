"""`trainboard up` as a small service manager: the port checked first, a worker restarted when it dies, and
SIGTERM or SIGINT stopping everything in order within a bounded time.

The order matters: the worker stops first, while the server still answers, so that the run it trains is
handed back (queued again at once, resumed from its checkpoint); then the server stops. Docker, systemd and
Kubernetes send SIGTERM to the main process only, and uvicorn, running in the main thread, re-raised it after
its own shutdown, which killed `up` before it could stop its worker: the worker then kept training under
PID 1. Here uvicorn runs on a thread and the main thread owns the signals.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import IO

#: Seconds the worker gets to hand its runs back before its processes are killed.
WORKER_STOP_S = 20.0
#: Seconds the server gets to finish the requests in flight.
SERVER_STOP_S = 5
#: A worker that dies sooner than this after its start is restarted after a growing pause (up to a minute).
QUICK_DEATH_S = 10.0


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be served (in use, or not an address of this machine); None when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


class WorkerSupervisor:
    """Runs `command` as the worker, in its own process group, restarts it when it dies, stops it on request.

    Its own process group: a terminal's Ctrl+C reaches `up` alone, which then stops the worker in order,
    and stopping can kill every training process of the worker at once if the grace time runs out.
    """

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        log: Path,
        say: Callable[[str], None],
        stop_s: float = WORKER_STOP_S,
    ) -> None:
        self.command, self.env, self.log, self.say, self.stop_s = command, env, log, say, stop_s
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restarts = 0
        self._pause_s = 1.0
        self._next_start = 0.0
        self._stopping = False

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started_at = time.monotonic()

    def check(self) -> None:
        """Restart the worker if it died (not when it is being stopped); call it every second or so."""
        if self._stopping or self.process is None or self.process.poll() is None:
            return
        now = time.monotonic()
        if self._next_start == 0.0:
            # Its training processes may outlive it (a SIGKILLed main process): they would go on training
            # a run the new worker's redelivered task must take over.
            _kill_group(self.process.pid)
            lived = now - self.started_at
            self._pause_s = min(self._pause_s * 2, 60.0) if lived < QUICK_DEATH_S else 1.0
            self._next_start = now + self._pause_s
            code = self.process.returncode
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            self.say(
                f"The worker stopped ({how}); starting a new one in {self._pause_s:.0f} s. "
                f"Its log: {self.log}"
            )
        if now >= self._next_start:
            self._next_start = 0.0
            self.restarts += 1
            self.start()
            self.say(f"Started a new worker (pid {self.process.pid}).")

    def stop(self) -> None:
        """SIGTERM to the worker (its runs are handed back), then SIGKILL to its group after `stop_s`."""
        self._stopping = True
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.stop_s)
        except subprocess.TimeoutExpired:
            self.say(f"The worker did not stop within {self.stop_s:.0f} s; killing it.")
        _kill_group(process.pid)
        process.wait()


def _kill_group(pid: int) -> None:
    """SIGKILL what is left of the worker's process group (training processes its main process left)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class StopSignals:
    """SIGTERM and SIGINT set `event` instead of raising in whatever the main thread was doing."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.name = ""

    def __enter__(self) -> StopSignals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.name = signal.Signals(signum).name
        self.event.set()


def say_to(stream: IO[str]) -> Callable[[str], None]:
    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    return say


def run_until_stopped(
    serve_forever: Callable[[], None],
    stop_server: Callable[[], None],
    supervisor: WorkerSupervisor,
    *,
    signals: StopSignals,
    server_stop_s: float = SERVER_STOP_S,
) -> int:
    """Serve on a thread and supervise the worker until a signal (exit 0) or the server's end (exit 1)."""
    server = threading.Thread(target=serve_forever, name="trainboard-server", daemon=True)
    server.start()
    while not signals.event.wait(1.0):
        if not server.is_alive():
            supervisor.stop()
            return 1
        supervisor.check()
    say_to(sys.stderr)(f"{signals.name}: stopping the worker, then the server.")
    supervisor.stop()
    stop_server()
    server.join(timeout=server_stop_s + 5)
    return 0
