"""The bridge from the training loop to the server: a Reporter that posts through the client library."""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, datetime

from trainboard.client import Client, TrainboardError
from worker.pacing import Progress

logger = logging.getLogger(__name__)


class ApiReporter:
    """Posts progress (the heartbeat), per-epoch metrics and checkpoints for one run.

    Used as a context manager, it also polls the run's status every `poll_interval_s` on a daemon thread and
    sets `stop` once the run is no longer running (cancelled from the UI or API, or reaped), so that `fit`,
    which checks the event every step, stops within one step instead of at the next heartbeat. Given the
    `worker` that claimed the run, it also stops when another worker has claimed it since (this one lost
    touch with the server for longer than the heartbeat timeout), so that a run never trains twice at once.
    """

    def __init__(
        self, client: Client, run_id: int, *, poll_interval_s: float = 0.5, worker: str | None = None
    ) -> None:
        self.client, self.run_id, self.poll_interval_s = client, run_id, poll_interval_s
        self.worker = worker
        self.status = "running"
        self.stop = threading.Event()
        self._closed = threading.Event()
        self._poller: threading.Thread | None = None

    def __enter__(self) -> ApiReporter:
        self._poller = threading.Thread(target=self._poll, name=f"run-{self.run_id}-status", daemon=True)
        self._poller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closed.set()
        if self._poller is not None:
            self._poller.join(timeout=5)

    def _poll(self) -> None:
        while not self._closed.wait(self.poll_interval_s):
            try:
                run = self.client.get_run(self.run_id)
            except TrainboardError as exc:
                # The heartbeat reports a lost server; this thread only ever adds a faster stop.
                logger.debug("run %d: status poll failed: %s", self.run_id, exc)
                continue
            status, holder = str(run["status"]), run.get("worker")
            if status == "running" and self.worker and holder and holder != self.worker:
                logger.warning("run %d was taken over by %s; stopping", self.run_id, holder)
                self._stopped("taken over")
                return
            if status != "running":
                self._stopped(status)
                return

    def _stopped(self, status: str) -> None:
        if not self.stop.is_set():
            logger.info("run %d is %s on the server; stopping", self.run_id, status)
        self.status = status
        self.stop.set()

    def on_progress(self, progress: Progress) -> bool:
        """Heartbeat; False once the server says the run is no longer running (cancelled, or reaped)."""
        try:
            status = self.client.report_progress(
                self.run_id,
                epoch=progress.epoch,
                epochs=progress.epochs,
                step=progress.step,
                steps=progress.steps,
                examples_per_sec=progress.examples_per_sec,
                eta_s=progress.eta_s,
                retries=1,  # a heartbeat comes every few seconds: the next one is the retry
            )
        except TrainboardError as exc:
            if exc.status_code is not None and exc.status_code < 500 and exc.status_code != 429:
                raise
            # A server (or its database) that is away should not throw away training; the next heartbeat
            # tries again, and metrics and checkpoints retry with back-off for about 90 s.
            logger.warning("run %d: progress not sent: %s", self.run_id, exc)
            return True
        if status != "running":
            self._stopped(status)
        return status == "running"

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Send one epoch's metrics with step = epoch."""
        now = datetime.now(UTC).isoformat()  # to the microsecond: a small model's epochs end within a second
        points = [{"key": k, "step": epoch, "value": v, "timestamp": now} for k, v in metrics.items()]
        self.client.log_metrics(self.run_id, points)

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        """Store the checkpoint taken after `epoch`."""
        self.client.put_checkpoint(self.run_id, data)
        logger.debug("run %d: checkpoint after epoch %d (%d bytes)", self.run_id, epoch, len(data))


GPU_ERROR = re.compile(r"\bCUDA\b|\bcuDNN\b|\bCUBLAS", re.IGNORECASE)


def describe_error(exc: BaseException, *, device: str, batch_size: int | None) -> str:
    """One line a user understands for an exception that ended a run."""
    text = str(exc).strip()
    first_line = text.splitlines()[0] if text else ""
    batch = f" with batch_size {batch_size}" if batch_size is not None else ""
    if isinstance(exc, MemoryError):  # the host's RAM, whatever the device (MemoryError has no message)
        return (
            f"the worker ran out of memory (RAM){batch}: try a smaller batch or a smaller model, "
            "or fewer training processes per worker"
        )
    if "out of memory" in text.lower():  # torch.cuda.OutOfMemoryError, and the MPS/XPU equivalents
        return f"out of memory on {device}{batch}: try a smaller batch or a smaller model"
    if isinstance(exc, RuntimeError) and GPU_ERROR.search(first_line):
        # "CUDA error: an illegal memory access was encountered" and the like: the GPU, its driver or a
        # kernel failed; the Python traceback says nothing more useful.
        reason = re.sub(r"^CUDA error:\s*", "", first_line, flags=re.IGNORECASE)
        return (
            f"CUDA error on {device}: {reason} (the GPU or its driver failed; check the worker's log "
            "and nvidia-smi, then submit the run again)"
        )
    if isinstance(exc, ValueError) and first_line:
        return first_line
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


__all__ = ["ApiReporter", "describe_error"]
