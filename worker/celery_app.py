"""The Celery app (imports no torch: the server imports this module only to send tasks by name)."""

from __future__ import annotations

from celery import Celery

from trainboard.settings import get_settings

settings = get_settings()
broker_url = settings.resolved_broker_url


def transport_options(url: str) -> dict[str, int]:
    """Broker options: Redis and SQS get a visibility timeout longer than the longest run.

    Without it Redis hands a still-running acks_late task to a second worker after an hour. The SQLAlchemy
    transport (the embedded default) passes these options to create_engine, which refuses unknown ones.
    """
    if url.startswith(("redis://", "rediss://", "sqs://")):
        return {"visibility_timeout": 43200}
    return {}


app = Celery("trainboard", broker=broker_url, include=["worker.tasks"])
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_default_queue="gpu",
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

TRAIN_TASK = "worker.tasks.train"
GRADCHECK_TASK = "worker.tasks.gradcheck"

__all__ = ["GRADCHECK_TASK", "TRAIN_TASK", "app", "transport_options"]
