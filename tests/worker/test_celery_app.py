"""The Celery app's configuration (the worker itself is exercised end to end by the lead's tests)."""

from __future__ import annotations

import pytest

from trainboard.broker import DEFAULT_QUEUE, GRADCHECK_TASK, TRAIN_TASK, transport_options
from worker.celery_app import app


def test_app_acknowledges_late_and_prefetches_one() -> None:
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1 and app.conf.task_default_queue == DEFAULT_QUEUE == "gpu"


def test_tasks_are_registered_under_the_names_the_server_sends() -> None:
    import worker.tasks  # noqa: F401  (registers the tasks)

    assert {TRAIN_TASK, GRADCHECK_TASK} <= set(app.tasks)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost:6379/0", {"visibility_timeout": 43200}),
        ("sqla+sqlite:////tmp/broker.db", {}),  # create_engine would refuse the option
        ("memory://", {}),
    ],
)
def test_transport_options_only_set_a_visibility_timeout_where_it_exists(url: str, expected: dict) -> None:
    assert transport_options(url) == expected


def test_worker_outlives_a_broker_restart() -> None:
    """It reconnects for as long as the broker is away, and lets the runs in progress finish meanwhile."""
    assert app.conf.broker_connection_retry and app.conf.broker_connection_retry_on_startup
    assert app.conf.broker_connection_max_retries is None
    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is False
