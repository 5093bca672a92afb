"""The workers' Celery app (task names and broker options shared with the server: trainboard.broker)."""

from __future__ import annotations

from celery import Celery

from trainboard.broker import DEFAULT_QUEUE, transport_options
from trainboard.settings import get_settings

settings = get_settings()
broker_url = settings.resolved_broker_url

app = Celery("trainboard", broker=broker_url, include=["worker.tasks"])
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue=DEFAULT_QUEUE,
    broker_transport_options=transport_options(broker_url),
    # The broker may go away (a Redis restart): keep reconnecting for as long as it takes, and let the
    # runs in progress finish meanwhile (they report to the server, not the broker). The server re-sends
    # what the broker lost, and the worker's claim drops any duplicate.
    broker_connection_retry_on_startup=True,
    broker_connection_retry=True,
    broker_connection_max_retries=None,
    worker_cancel_long_running_tasks_on_connection_loss=False,
    worker_concurrency=settings.worker_concurrency,
)

__all__ = ["app"]
