"""Hands run ids to the Celery workers by task name; the web process never imports the training code."""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger(__name__)

TRAIN_TASK = "worker.tasks.train"


class RunQueue(Protocol):
    def enqueue(self, run_id: int) -> bool: ...

    def ping(self) -> bool: ...


class CeleryRunQueue:
    """Sends `worker.tasks.train(run_id)` to the broker the settings name."""

    def __init__(self, queue: str = "gpu") -> None:
        self.queue = queue

    def enqueue(self, run_id: int) -> bool:
        """Send the task; False (and the run stays queued for the reaper to retry) when the broker is down."""
        from worker.celery_app import app

        try:
            app.send_task(
                TRAIN_TASK,
                args=[run_id],
                queue=self.queue,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
        except Exception as exc:  # the broker's client raises many kinds; all mean "not sent"
            logger.warning("could not queue run %s: %s", run_id, exc)
            return False
        return True

    def ping(self) -> bool:
        from worker.celery_app import app

        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception:
            return False
        return True


_queue: RunQueue = CeleryRunQueue()


def get_queue() -> RunQueue:
    """The run queue (a dependency, so tests can point it at their own broker)."""
    return _queue
