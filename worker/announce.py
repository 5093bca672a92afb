"""Each worker process tells the server, every few seconds, that it is alive: its slots (Celery's
concurrency), how many runs it trains now, and its device. The server counts the live workers' free slots
from it.

The announcing thread lives in the main process, which tracks the tasks its pool runs (Celery's
`state.active_requests`); the training processes never see each other's. It starts once the worker is
ready and says goodbye when it stops, so the count drops at once rather than after the timeout.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from celery.worker import state

from trainboard.client import Client, TrainboardError
from trainboard.settings import get_settings

logger = logging.getLogger(__name__)

#: Seconds between announcements (the server's TRAINBOARD_WORKER_TIMEOUT_S is a few of these).
WORKER_HEARTBEAT_INTERVAL_S = 10.0


class Announcer:
    """Posts the worker's announcement every `interval_s` from a daemon thread until stopped."""

    def __init__(
        self,
        client: Client,
        *,
        concurrency: int,
        device: str,
        active_runs: Callable[[], int],
        interval_s: float = WORKER_HEARTBEAT_INTERVAL_S,
    ) -> None:
        self.client = client
        self.hostname = socket.gethostname()
        self.worker_id = f"{self.hostname}:{os.getpid()}"
        self.concurrency, self.device, self.active_runs = concurrency, device, active_runs
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trainboard-announce", daemon=True)

    def announce(self) -> None:
        """One announcement; a server that is away is tried again at the next interval."""
        try:
            self.client.announce_worker(
                self.worker_id,
                hostname=self.hostname,
                concurrency=self.concurrency,
                active_runs=self.active_runs(),
                device=self.device,
                retries=0,
            )
        except TrainboardError as exc:
            logger.warning("could not announce this worker to the server: %s", exc)

    def _loop(self) -> None:
        while True:
            self.announce()
            if self._stop.wait(self.interval_s):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop announcing and tell the server this worker is gone."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.client.forget_worker(self.worker_id, retries=0)
        except TrainboardError as exc:
            logger.warning("could not tell the server this worker stops: %s", exc)
        self.client.close()


_announcer: Announcer | None = None


def device_name(setting: str) -> str:
    """The device a "device" setting names, as the announcement says it ("auto" resolved)."""
    from worker.train import resolve_device

    try:
        return str(resolve_device(setting))
    except ValueError:  # cuda asked for but absent: the runs will fail and say so; the slot still exists
        return setting


@worker_ready.connect
def start_announcing(sender: Any = None, **_: Any) -> None:
    """Start announcing once the pool is up (the main process only: signals of the pool's children differ)."""
    global _announcer
    settings = get_settings()
    controller = getattr(sender, "controller", None)
    concurrency = int(getattr(controller, "concurrency", None) or settings.worker_concurrency)
    _announcer = Announcer(
        Client(),
        concurrency=concurrency,
        device=device_name(settings.device),
        active_runs=lambda: len(state.active_requests),
    )
    _announcer.start()
    logger.info("announcing worker %s (%d slots) to the server", _announcer.worker_id, concurrency)


@worker_shutdown.connect
def stop_announcing(**_: Any) -> None:
    if _announcer is not None:
        _announcer.stop()
