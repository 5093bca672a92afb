"""Celery tasks: thin wrappers that hand a run id to the runner."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from celery.exceptions import Reject
from celery.signals import worker_process_init

from trainboard.broker import GRADCHECK_TASK, TRAIN_TASK
from trainboard.client import Client
from trainboard.files import keep_private
from trainboard.settings import get_settings
from worker import announce, gradcheck, runner, shutdown
from worker.celery_app import app
from worker.memory import keep_freed_memory

logger = logging.getLogger(__name__)
# The main process announces its slots to the server (its signal handlers connect on import).
__all__ = ["announce", "check_gradients", "configure_process", "train"]


@worker_process_init.connect
def configure_process(**_: Any) -> None:
    """Share the CPU cores between the worker's training processes, keep freed buffers for reuse, and
    keep the files it caches (uploaded datasets, checkpoints) private."""
    keep_private()
    settings = get_settings()
    # More intra-op threads than free cores makes PyTorch spin against the server and the other
    # training processes: on 2 busy cores a digits MLP took 59 s with 2 threads and 10 s with 1.
    spare_cores = max(1, (os.cpu_count() or 1) - 1)
    threads = settings.torch_threads or max(1, spare_cores // settings.worker_concurrency)
    torch.set_num_threads(threads)
    kept = keep_freed_memory()
    device = settings.device
    logger.info("worker process ready: %d torch threads, device %s, malloc tuned: %s", threads, device, kept)


@app.task(name=TRAIN_TASK)
def train(run_id: int) -> str:
    """Train run `run_id` (a second delivery of a finished run does nothing).

    A training process that was asked to stop takes no new run: the message goes back to the broker for
    another worker (a stopping worker used to claim the run it had just handed back, and hand it back again).
    """
    if shutdown.requested():
        raise Reject(f"run {run_id}: this worker is stopping ({shutdown.reason()})", requeue=True)
    with Client() as client, shutdown.graceful():
        return runner.execute(run_id, client=client, device_setting=get_settings().device)


@app.task(name=GRADCHECK_TASK)
def check_gradients(check_id: str) -> str:
    """Run the numerical gradient check `check_id` and post its result."""
    with Client() as client:
        return gradcheck.run_check(client, check_id)
