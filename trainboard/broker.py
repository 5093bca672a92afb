"""What the server and its workers agree on about the broker: the task names, the queue and its options.

The server sends tasks by these names (it never imports the worker, which would pull in torch) and the
worker registers its tasks under them (it never imports the server); both read them from here.
"""

from __future__ import annotations

TRAIN_TASK = "worker.tasks.train"
GRADCHECK_TASK = "worker.tasks.gradcheck"
#: The queue the server sends to; `trainboard worker --queues` must include it (its default does).
DEFAULT_QUEUE = "gpu"


def transport_options(url: str) -> dict[str, int]:
    """Broker options: Redis and SQS get a visibility timeout longer than the longest run.

    Without it Redis hands a still-running acks_late task to a second worker after an hour. The SQLAlchemy
    transport (the embedded default) passes these options to create_engine, which refuses unknown ones.
    """
    if url.startswith(("redis://", "rediss://", "sqs://")):
        return {"visibility_timeout": 43200}
    return {}


__all__ = ["DEFAULT_QUEUE", "GRADCHECK_TASK", "TRAIN_TASK", "transport_options"]
