"""A graceful stop of the worker: its training processes stop within one step and hand their runs back.

Celery's warm shutdown (SIGTERM, or the first Ctrl+C) waits for the running tasks to finish: a run of an
hour kept `docker stop` and `systemctl stop` waiting for an hour, or, killed after their timeout, left the run
"running" until the reaper's heartbeat timeout. Instead, each training process (a prefork child) treats
SIGTERM as "stop now": it sets the stop event of the run it trains, `fit` returns at the next step, and the
runner hands the run back to the server, which queues it again at once (resumed from its checkpoint).

SIGTERM reaches the training processes two ways: systemd sends it to every process of the unit, and the main
process forwards it on `worker_shutting_down` (docker and `trainboard up` signal the main process only).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from billiard.process import active_children
from celery.signals import worker_shutting_down

logger = logging.getLogger(__name__)

_requested = threading.Event()
_reason = "the worker was stopped"
_run_stops: set[threading.Event] = set()
_lock = threading.Lock()


def requested() -> bool:
    """Whether this process was asked to stop (its run must be handed back, not finished)."""
    return _requested.is_set()


def reason() -> str:
    return _reason


def request(why: str) -> None:
    """Stop every run this process trains at its next step (safe to call from a signal handler)."""
    global _reason
    _reason = why
    _requested.set()
    for stop in list(_run_stops):
        stop.set()


@contextmanager
def stopping(stop: threading.Event) -> Iterator[None]:
    """While inside, a stop request sets `stop` (the run's stop event, which `fit` checks every step)."""
    with _lock:
        _run_stops.add(stop)
    if requested():
        stop.set()
    try:
        yield
    finally:
        with _lock:
            _run_stops.discard(stop)


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    request(f"the worker was stopped ({signal.Signals(signum).name})")


@contextmanager
def graceful() -> Iterator[None]:
    """While a task runs, SIGTERM asks it to stop instead of ending the process.

    Installed per task: billiard sets its own SIGTERM handler (exit at once) after the pool process starts,
    so one installed at `worker_process_init` does not last. Between tasks that exit is right: nothing to
    hand back. SIGINT stays ignored (a terminal's Ctrl+C reaches the whole group: the main process decides).
    """
    if threading.current_thread() is not threading.main_thread():  # a solo or threads pool: no signals
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@worker_shutting_down.connect
def _forward_to_training_processes(sig: str = "SIGTERM", **_: Any) -> None:
    # Runs in the main process, inside its signal handler: only os.kill here.
    for child in active_children():
        if child.pid:
            try:
                os.kill(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


__all__ = ["graceful", "reason", "request", "requested", "stopping"]
