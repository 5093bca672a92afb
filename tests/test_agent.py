"""The agent's parts that need no server: stopping a command in order, and what a crash leaves behind."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import pytest

from trainboard.agent import STDERR_TAIL_BYTES, StderrTail, failure_reason, stop_command


def test_a_command_that_ignores_sigint_gets_sigterm_after_the_grace_period() -> None:
    ignores_sigint = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('ready', flush=True); "
        "time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", ignores_sigint], stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    started = time.monotonic()
    assert stop_command(process, grace_s=0.5) == -signal.SIGTERM
    assert 0.5 <= time.monotonic() - started < 5


def test_a_command_that_handles_sigint_ends_at_once() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    started = time.monotonic()
    assert stop_command(process, grace_s=30) == -signal.SIGINT  # its KeyboardInterrupt ended it
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("exit_code", "tail", "reason"),
    [
        (1, "Traceback ...\nValueError: bad lr\n\n", "the command exited with status 1: ValueError: bad lr"),
        (2, "", "the command exited with status 2"),
        (-9, "loading data\n", "the command was killed by SIGKILL: loading data"),
    ],
)
def test_failure_reason_says_how_it_ended_and_its_last_words(exit_code: int, tail: str, reason: str) -> None:
    assert failure_reason(exit_code, tail) == reason


def test_the_stderr_tail_keeps_its_last_2_kb(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    lines = b"".join(f"line {i:04d}\n".encode() for i in range(1000))  # 10 bytes a line
    reader, writer = os.pipe()
    tail = StderrTail(io.FileIO(reader, "rb"))
    tail.start()
    with open(writer, "wb") as out:
        out.write(lines)
    tail.join(5)
    text = tail.text()
    assert text.endswith("line 0999\n") and text.startswith("line ")
    assert STDERR_TAIL_BYTES - 10 <= len(text) <= STDERR_TAIL_BYTES
    assert capfdbinary.readouterr().err == lines  # echoed whole, as it came
