"""Real server and worker processes for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TERMINAL = {"succeeded", "failed", "diverged", "cancelled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trainboard_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a child process: our settings, none inherited from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINBOARD_")}
    env.update({"TRAINBOARD_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    env.update({f"TRAINBOARD_{k.upper()}": v for k, v in settings.items()})
    return env


def wait_until(predicate, timeout: float, what: str, interval: float = 0.25):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def descendants(pid: int) -> set[int]:
    """The live processes below `pid` (children, grandchildren...), read from /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # "pid (command) state ppid ...": the command may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _server_up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def server_process(
    env: dict[str, str], log: Path, *, port: int | None = None, workers: int = 1
) -> Iterator[str]:
    """`trainboard serve` on `port` or a free one (migrating its database first), in `workers` processes;
    yields its URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**env, "TRAINBOARD_SERVER_URL": url}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "trainboard.cli", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: process.poll() is not None or _server_up(url), 60, "the server to start")
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        _stop(process)


@contextmanager
def worker_process(
    env: dict[str, str], server_url: str, log: Path, *, own_group: bool = False, concurrency: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """`trainboard worker` reporting to `server_url` (with `own_group`, in its own process group)."""
    env = {**env, "TRAINBOARD_SERVER_URL": server_url}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "trainboard.cli", "worker", "--concurrency", str(concurrency)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )
    try:
        yield process
    finally:
        _stop(process)


def admin_cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    """Run an admin command (`users add`, `tokens add`) next to the database; returns what it printed."""
    command = [sys.executable, "-m", "trainboard.cli", *args]
    return subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, check=True).stdout


def admin_token(env: dict[str, str], username: str = "root") -> str:
    """A new administrator and their personal API token (the token is the command's last line)."""
    admin_cli(env, "users", "add", username, "--admin", "--password-stdin", stdin="a long admin passphrase\n")
    return admin_cli(env, "tokens", "add", "--user", username).splitlines()[-1]


def worker_token(env: dict[str, str]) -> str:
    return admin_cli(env, "tokens", "add", "--worker").splitlines()[-1]


def wait_for_run(client, run_id: int, timeout: float = 180) -> dict:  # type: ignore[no-untyped-def]
    """Poll the run until it reaches a final status; returns it."""
    return wait_until(
        lambda: (run := client.get_run(run_id))["status"] in TERMINAL and run,
        timeout,
        f"run {run_id} to finish",
    )
