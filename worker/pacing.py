"""Progress reports from the training loop, paced: at most one heartbeat every few seconds, and a stop the
moment the run is cancelled."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Progress:
    """A heartbeat: where training is and how fast it goes."""

    epoch: int
    epochs: int
    step: int
    steps: int
    examples_per_sec: float | None = None
    eta_s: float | None = None


class ProgressReporter(Protocol):
    def on_progress(self, progress: Progress) -> bool:
        """Report progress; return False when the run was cancelled and training must stop."""
        ...


class Pacer:
    """Calls `reporter.on_progress` at most every `interval_s` seconds; says stop as soon as `stop` is set."""

    def __init__(
        self,
        reporter: ProgressReporter,
        *,
        epochs: int,
        steps: int,
        first_step: int,
        interval_s: float,
        stop: threading.Event | None = None,
    ) -> None:
        self.reporter, self.epochs, self.steps, self.interval_s = reporter, epochs, steps, interval_s
        self.stop = stop
        self.started = self.last = time.perf_counter()
        self.first_step, self.examples, self.epoch = first_step, 0, 1

    def report(self, step: int, examples: int, *, force: bool = False) -> bool:
        self.examples += examples
        if self.stop is not None and self.stop.is_set():
            return False
        now = time.perf_counter()
        if not force and now - self.last < self.interval_s:
            return True
        elapsed = max(now - self.started, 1e-9)
        done = step - self.first_step
        eta = elapsed / done * (self.steps - step) if done > 0 else None
        progress = Progress(self.epoch, self.epochs, step, self.steps, self.examples / elapsed, eta)
        self.last = now
        return self.reporter.on_progress(progress)


__all__ = ["Pacer", "Progress", "ProgressReporter"]
