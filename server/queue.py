"""Hands work to the Celery workers by task name (runs and gradient checks); the web process never imports
the worker or the training code, but builds its own sending app from the settings and trainboard.broker."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from trainboard.broker import DEFAULT_QUEUE, GRADCHECK_TASK, TRAIN_TASK, transport_options
from trainboard.settings import get_settings

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)


class RunQueue(Protocol):
    """The workers' queue: training runs and gradient checks, sent by id."""

    def enqueue(self, run_id: int) -> bool: ...

    def enqueue_gradcheck(self, check_id: str) -> bool: ...

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


def sending_app() -> Celery:
    """A Celery app that only sends, to the broker the settings name (no tasks: those live in the worker)."""
    from celery import Celery

    url = get_settings().resolved_broker_url
    app = Celery("trainboard", broker=url, set_as_current=False)
    app.conf.update(
        task_default_queue=DEFAULT_QUEUE,
        task_ignore_result=True,
        broker_transport_options=transport_options(url),
    )
    return app


class CeleryQueue:
    """Sends `worker.tasks.train(run_id)` and `worker.tasks.gradcheck(check_id)` to one queue of the broker
    the settings name (or of `app`'s)."""

    def __init__(self, queue: str = DEFAULT_QUEUE, *, app: Celery | None = None) -> None:
        self.queue = queue
        self._app = app

    @property
    def app(self) -> Celery:
        if self._app is None:
            self._app = sending_app()
        return self._app

    def _send(self, task: str, ident: int | str) -> bool:
        """Send the task; False when the broker is down (the caller says what that means)."""
        try:
            self.app.send_task(
                task,
                args=[ident],
                queue=self.queue,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
        except Exception as exc:  # the broker's client raises many kinds; all mean "not sent"
            logger.warning("could not send %s(%r): %s", task, ident, exc)
            return False
        return True

    def enqueue(self, run_id: int) -> bool:
        """Queue the run; False (and the run stays queued for the reaper to retry) when the broker is down."""
        return self._send(TRAIN_TASK, run_id)

    def enqueue_gradcheck(self, check_id: str) -> bool:
        """Queue the gradient check; False when the broker is down."""
        return self._send(GRADCHECK_TASK, check_id)

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


_queue: RunQueue = CeleryQueue()


def get_queue() -> RunQueue:
    """The workers' queue (a dependency, so tests can point it at their own broker)."""
    return _queue
