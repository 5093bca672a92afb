"""Hands run ids to the Celery workers by task name; the web process never imports the training code."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)

TRAIN_TASK = "worker.tasks.train"


class RunQueue(Protocol):
    def enqueue(self, run_id: int) -> bool: ...

    def ping(self) -> bool: ...

    def held_run_ids(self) -> set[int] | None: ...


def run_ids_in_messages(payloads: Iterable[str | bytes], task: str = TRAIN_TASK) -> set[int]:
    """The run ids of the `task` messages among kombu payloads (JSON envelopes as the broker stores them).

    Celery's message protocol 2 keeps the task name in the headers and `[args, kwargs, embed]` in the
    body (base64 when the transport says so); a payload we cannot read is skipped, not guessed at.
    """
    run_ids = set()
    for payload in payloads:
        try:
            envelope = json.loads(payload)
            if (envelope.get("headers") or {}).get("task") != task:
                continue
            body: Any = envelope["body"]
            if (envelope.get("properties") or {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
            run_ids.add(int(args[0]))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            logger.debug("skipping a broker message we cannot read: %s", exc)
    return run_ids


class CeleryRunQueue:
    """Sends `worker.tasks.train(run_id)` to the broker the settings name (or to `app`'s)."""

    def __init__(self, queue: str = "gpu", *, app: Celery | None = None) -> None:
        self.queue = queue
        self._app = app

    @property
    def app(self) -> Celery:
        if self._app is None:
            from worker.celery_app import app

            self._app = app
        return self._app

    def enqueue(self, run_id: int) -> bool:
        """Send the task; False (and the run stays queued for the reaper to retry) when the broker is down."""
        try:
            self.app.send_task(
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
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception:
            return False
        return True

    def held_run_ids(self) -> set[int] | None:
        """Run ids whose train message the broker still holds, waiting or delivered and not yet acknowledged.

        None when the broker cannot be asked (it is down, or its kind keeps no list we can read): the caller
        must then assume every message is still there.
        """
        try:
            with self.app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)  # a down broker answers at once
                channel = connection.default_channel
                transport = connection.transport_cls
                if transport in ("redis", "rediss"):
                    return run_ids_in_messages(_redis_payloads(channel, self.queue))
                if transport in ("sqla", "sqlalchemy"):
                    return run_ids_in_messages(_sqlalchemy_payloads(channel, self.queue))
        except Exception as exc:  # as in enqueue: any client error means "cannot tell"
            logger.warning("could not inspect the broker: %s", exc)
        return None


def _redis_payloads(channel: Any, queue: str) -> list[bytes]:
    """Messages waiting in the queue's lists (one per priority) and those delivered but not acknowledged.

    One MULTI reads both, so a message a worker takes meanwhile is seen in one place or the other (bar the
    instant between BRPOP and its entry in the unacked hash; the worker's atomic claim covers that).
    """
    lists = [channel._q_for_pri(queue, priority) for priority in channel.priority_steps]
    with channel.conn_or_acquire() as client:
        pipe = client.pipeline(transaction=True)
        for key in lists:
            pipe.lrange(key, 0, -1)
        pipe.hvals(channel.unacked_key)
        *waiting, unacked = pipe.execute()
    payloads = [message for messages in waiting for message in messages]
    for entry in unacked:  # [payload, exchange, routing_key]
        try:
            payloads.append(json.dumps(json.loads(entry)[0]).encode())
        except (ValueError, IndexError, TypeError):
            continue
    return payloads


def _sqlalchemy_payloads(channel: Any, queue: str) -> list[str]:
    """Messages still visible in the embedded broker's table (kombu keeps delivered ones as invisible)."""
    session = channel.session
    try:
        rows = channel._query_all(queue).filter(channel.message_cls.visible.is_(True))
        return [row.payload for row in rows]
    finally:
        session.rollback()  # SQLite: never keep a read transaction open against the workers' writes


_queue: RunQueue = CeleryRunQueue()


def get_queue() -> RunQueue:
    """The run queue (a dependency, so tests can point it at their own broker)."""
    return _queue
