"""The server reads which runs a real broker still holds: Redis (waiting lists and the unacked hash) and the
embedded SQLite broker, so that the reaper re-sends exactly the runs a broker restart lost."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from server.queue import CeleryQueue, run_ids_in_messages
from tests.backends import redis_url, require_service


def broker_app(url: str) -> Celery:
    return Celery("inspection-test", broker=url)


@pytest.fixture
def redis_queue() -> Iterator[CeleryQueue]:
    require_service("Redis", redis_url())
    app = broker_app(redis_url())
    queue = CeleryQueue(f"inspect-{uuid.uuid4().hex[:8]}", app=app)  # a queue of this test's own
    yield queue
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete(queue.queue)


def take_one(queue: CeleryQueue):  # type: ignore[no-untyped-def]
    """Deliver one message as a worker would, without acknowledging it yet."""
    connection = queue.app.connection_for_read()
    message = connection.default_channel.basic_get(queue.queue, no_ack=False)
    assert message is not None
    return connection, message


def test_redis_holds_waiting_and_unacknowledged_runs_until_acked(redis_queue: CeleryQueue) -> None:
    for run_id in (101, 102, 103):
        assert redis_queue.enqueue(run_id)
    assert redis_queue.held_run_ids() >= {101, 102, 103}  # type: ignore[operator]

    connection, message = take_one(redis_queue)  # a worker took the oldest: it sits in the unacked hash
    try:
        assert redis_queue.held_run_ids() >= {101, 102, 103}  # type: ignore[operator]
        message.ack()
        held = redis_queue.held_run_ids()
        assert held is not None and {102, 103} <= held and 101 not in held
    finally:
        connection.release()


def test_a_redis_restart_without_persistence_loses_every_message(redis_queue: CeleryQueue) -> None:
    assert redis_queue.enqueue(201)
    with redis_queue.app.connection_for_write() as connection:
        connection.default_channel.client.delete(redis_queue.queue)  # what a restart leaves of the list
    held = redis_queue.held_run_ids()
    assert held is not None and 201 not in held


def test_embedded_broker_holds_only_the_runs_not_yet_delivered(tmp_path: Path) -> None:
    queue = CeleryQueue("gpu", app=broker_app(f"sqla+sqlite:///{tmp_path / 'broker.db'}"))
    assert queue.held_run_ids() == set()
    assert queue.enqueue(7) and queue.enqueue(8)
    assert queue.held_run_ids() == {7, 8}
    connection, _ = take_one(queue)
    try:
        assert queue.held_run_ids() == {8}
    finally:
        connection.release()  # kombu puts an unacknowledged message back when its channel closes
    assert queue.held_run_ids() == {7, 8}


def test_a_broker_that_is_down_cannot_tell() -> None:
    queue = CeleryQueue("gpu", app=broker_app("redis://127.0.0.1:9/0"))  # nothing listens on port 9
    queue.app.conf.broker_connection_timeout = 1
    assert queue.held_run_ids() is None


def test_messages_of_other_tasks_and_unreadable_ones_are_skipped() -> None:
    gpu = CeleryQueue("gpu", app=broker_app("memory://"))
    with gpu.app.connection_for_write() as connection:
        gpu.app.send_task("worker.tasks.train", args=[5], connection=connection, queue="gpu")
        gpu.app.send_task("worker.tasks.gradcheck", args=["abc"], connection=connection, queue="gpu")
        channel = connection.default_channel
        payloads = [channel._get("gpu"), channel._get("gpu")]
    assert run_ids_in_messages([json.dumps(p) for p in payloads] + ["not json", "{}"]) == {5}
