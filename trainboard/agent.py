"""`trainboard agent SWEEP_ID -- COMMAND ...`: run a command once per trial of a sweep over your own script.

The loop: ask the server for the sweep's next trial (POST /sweeps/{id}/next); run COMMAND with
TRAINBOARD_RUN_ID set, so that `trainboard.init()` in it attaches to the trial and finds the sampled values
in `run.config`; while it runs, beat for the trial and watch its status. Once the server stopped the trial
(early stopping, a cancel) the command gets SIGINT, SIGTERM after the grace period, then SIGKILL. A command
that exits non-zero while its trial still runs fails the trial with the end of its stderr; one that exits 0
without finishing it finishes it as succeeded. Then the next trial, until none is left or `count` ran.

Several agents, on several machines, may share one sweep: the server hands out each trial once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from trainboard.client import Client, TrainboardError

#: How much of a command's stderr a failed trial keeps (its end: the traceback's last lines).
STDERR_TAIL_BYTES = 2048
#: Seconds between two looks at the trial's status (each is also its heartbeat).
POLL_S = 1.0
#: Seconds a command is given to exit after SIGTERM, before SIGKILL.
TERM_WAIT_S = 5.0


class AgentError(Exception):
    """Why the agent cannot start or go on: one line for the user, and a non-zero exit."""


def say(message: str) -> None:
    """One line of the agent's own, between the command's lines."""
    print(f"trainboard agent: {message}", file=sys.stderr, flush=True)


def check_sweep(client: Client, sweep_id: int) -> dict[str, Any]:
    """The sweep, if it is one an agent can take trials from; else AgentError saying why."""
    try:
        sweep = client.get_sweep(sweep_id, retries=0)
    except TrainboardError as exc:
        if exc.status_code == 404:
            server = client.base_url.removesuffix("/api/v1")
            raise AgentError(f"sweep {sweep_id} not found on {server}") from None
        if exc.status_code is None:
            raise AgentError(f"cannot reach the server: {exc}") from None
        raise AgentError(f"sweep {sweep_id}: {exc.detail}") from None
    name = f"sweep {sweep_id} ({sweep['name']})"
    if sweep.get("target") != "script":
        raise AgentError(
            f"{name} trains built-in models on the server's workers; trainboard agent runs only sweeps "
            'of your own script (created with "target": "script")'
        )
    if sweep["status"] in ("finished", "cancelled"):
        raise AgentError(f"{name} is {sweep['status']}: it has no trial left to run")
    if sweep["status"] == "paused":
        raise AgentError(f"{name} is paused: resume it, then start the agent again")
    return sweep


def run_agent(
    sweep_id: int,
    command: Sequence[str],
    *,
    client: Client,
    server_url: str,
    token: str | None = None,
    count: int | None = None,
    grace_s: float = 10.0,
    poll_s: float = POLL_S,
) -> int:
    """Run `command` for the sweep's trials, one after the other; returns how many ran.

    Raises AgentError when the sweep is unknown, of built-in models, finished, cancelled or paused.
    """
    if not command:
        raise AgentError("give the command to run after --, e.g. trainboard agent 3 -- python train.py")
    check_sweep(client, sweep_id)
    ran = 0
    while count is None or ran < count:
        trial = client.next_trial(sweep_id)
        if trial is None:
            say(_why_none_left(client, sweep_id))
            break
        env = trial_env(trial, server_url=server_url, token=token)
        run_trial(client, trial, command, env=env, grace_s=grace_s, poll_s=poll_s)
        ran += 1
    else:
        say(f"ran {ran} trial{'s' if ran != 1 else ''} (--count {count})")
    return ran


def _why_none_left(client: Client, sweep_id: int) -> str:
    sweep = client.get_sweep(sweep_id)
    if sweep["status"] == "running":
        handed = f"{sweep['handed_out']} of {sweep['trial_budget']} handed out"
        return f"sweep {sweep_id} has no trial left to hand out ({handed})"
    return f"sweep {sweep_id} is {sweep['status']}: no trial left to hand out"


def trial_env(trial: dict[str, Any], *, server_url: str, token: str | None) -> dict[str, str]:
    """The command's environment: ours, plus where to report and which run to attach to."""
    env = dict(os.environ)
    env.update(
        TRAINBOARD_RUN_ID=str(trial["id"]),
        TRAINBOARD_SERVER_URL=server_url,
        PYTHONUNBUFFERED=env.get("PYTHONUNBUFFERED", "1"),  # its lines in order with ours
    )
    if token:
        env["TRAINBOARD_API_TOKEN"] = token
    return env


@dataclass(frozen=True)
class TrialResult:
    run_id: int
    exit_code: int
    status: str
    error: str | None


def run_trial(
    client: Client,
    trial: dict[str, Any],
    command: Sequence[str],
    *,
    env: dict[str, str],
    grace_s: float,
    poll_s: float = POLL_S,
) -> TrialResult:
    """Run the command for one trial, stop it if the server stops the trial, and settle the trial's status."""
    run_id = int(trial["id"])
    values = ", ".join(f"{path}={value}" for path, value in (trial.get("params") or {}).items())
    say(f"run #{run_id} ({trial['name']}): {values or 'no parameters'}")
    # Its own session: a Ctrl+C in the terminal reaches the agent, which stops the command in order.
    try:
        process = subprocess.Popen(list(command), env=env, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:  # every trial would fail alike: fail this one and stop
        reason = f"cannot run {command[0]!r}: {exc.strerror or exc}"
        _finish_if_running(client, run_id, "failed", reason)
        raise AgentError(reason) from None
    assert process.stderr is not None
    tail = StderrTail(process.stderr)
    tail.start()
    try:
        exit_code = _watch(client, run_id, process, grace_s=grace_s, poll_s=poll_s)
    except KeyboardInterrupt:
        say(f"interrupted: stopping run #{run_id}'s command")
        stop_command(process, grace_s)
        tail.join(TERM_WAIT_S)
        _finish_if_running(client, run_id, "cancelled", "the agent running it was interrupted")
        raise
    tail.join(TERM_WAIT_S)
    return settle(client, run_id, exit_code, tail.text())


def _watch(
    client: Client, run_id: int, process: subprocess.Popen[bytes], *, grace_s: float, poll_s: float
) -> int:
    """Wait for the command, beating for its trial; stop it once the server has stopped the trial."""
    while True:
        try:
            return process.wait(timeout=poll_s)
        except subprocess.TimeoutExpired:
            pass
        try:
            status = client.heartbeat(run_id, retries=0)
        except TrainboardError:
            continue  # the server is away for a moment: the command goes on, we look again
        # "cancelled": early stopping or a person stopped it. A run the script finished itself is left to
        # exit on its own (it may still be saving or uploading).
        if status == "cancelled":
            say(f"run #{run_id} was stopped on the server: stopping its command (SIGINT, then SIGTERM)")
            return stop_command(process, grace_s)


def stop_command(process: subprocess.Popen[bytes], grace_s: float) -> int:
    """SIGINT to the command's process group, SIGTERM after `grace_s`, SIGKILL after TERM_WAIT_S more."""
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, TERM_WAIT_S), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass  # already gone
        try:
            return process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    raise AssertionError("unreachable: wait() without a timeout returns")


def settle(client: Client, run_id: int, exit_code: int, stderr_tail: str) -> TrialResult:
    """Finish a trial its command left running: succeeded on exit 0, else failed with its stderr's end."""
    run = client.get_run(run_id)
    if run["status"] == "running":
        if exit_code == 0:
            _finish_if_running(client, run_id, "succeeded", None)
        else:
            _finish_if_running(client, run_id, "failed", failure_reason(exit_code, stderr_tail), stderr_tail)
    elif run["status"] == "failed" and exit_code != 0 and stderr_tail:
        # The script's client library failed the run (an uncaught exception): add what it printed.
        _finish_if_running(client, run_id, "failed", None, stderr_tail)
    run = client.get_run(run_id)
    ending = "stopped early" if run.get("stopped_early") else run["status"]
    say(f"run #{run_id} {ending}" + (f": {run['error']}" if run.get("error") else ""))
    return TrialResult(run_id, exit_code, run["status"], run.get("error"))


def _finish_if_running(
    client: Client, run_id: int, status: str, error: str | None, log_tail: str | None = None
) -> None:
    try:
        client.finish_run(run_id, status, error, log_tail=log_tail or None)
    except TrainboardError as exc:
        if exc.status_code != 409:  # 409: the server or the script ended it first, and that stands
            raise


def failure_reason(exit_code: int, stderr_tail: str) -> str:
    """One line: how the command ended, and the last line it wrote to stderr (usually the exception)."""
    if exit_code < 0:
        try:
            how = f"the command was killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            how = f"the command was killed by signal {-exit_code}"
    else:
        how = f"the command exited with status {exit_code}"
    last = next((line.strip() for line in reversed(stderr_tail.splitlines()) if line.strip()), "")
    return f"{how}: {last}" if last else how


class StderrTail(threading.Thread):
    """Copies the command's stderr to ours as it comes, keeping its last STDERR_TAIL_BYTES."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(name="trainboard-agent-stderr", daemon=True)
        self.stream = stream
        self._tail = bytearray()

    def run(self) -> None:
        out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
        fd = self.stream.fileno()
        while chunk := os.read(fd, 65536):
            if out is not None:
                out.write(chunk)
                out.flush()
            else:
                sys.stderr.write(chunk.decode(errors="replace"))
            self._tail += chunk
            del self._tail[:-STDERR_TAIL_BYTES]
        self.stream.close()

    def text(self) -> str:
        """The kept end of the stderr, from its first whole line."""
        data = bytes(self._tail)
        if len(data) == STDERR_TAIL_BYTES and b"\n" in data:
            data = data[data.index(b"\n") + 1 :]
        return data.decode(errors="replace")
