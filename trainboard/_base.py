"""What every kind of run shares (online, offline, disabled): step numbering, the checks on logged values,
`run.config`, `run.summary`, the context manager and finishing at interpreter exit."""

from __future__ import annotations

import atexit
import logging
import math
import os
import sys
import types
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from trainboard._config import Config, Summary
from trainboard._http import _plain
from trainboard.metric_keys import key_problem, value_problem

logger = logging.getLogger("trainboard")

Point = dict[str, Any]


def one_line(exc: BaseException) -> str:
    """An exception as a one-line reason: "RuntimeError: loader crashed"."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def checked_value(key: str, value: Any) -> float:
    """The value as a float; ValueError for what the server would refuse (a key with a space or too long, a
    non-finite value, an error rate outside [0, 1], a split size that is no whole number): refused here, not
    after the batch has left, since the server refuses the whole batch that holds it."""
    problem = key_problem(key)
    if problem is not None:
        raise ValueError(problem)
    number = value if type(value) is float else float(_plain(value))  # most values are floats already
    if not math.isfinite(number):
        raise ValueError(f"metric {key!r} is {number}: only finite numbers can be logged")
    problem = value_problem(key, number)
    if problem is not None:
        raise ValueError(problem)
    return number


class BaseRun:
    """A run as a training script sees it. Subclasses say where points go (`_record`) and how it ends."""

    mode = "online"

    def __init__(
        self,
        *,
        run_id: int | str,
        name: str,
        params: Mapping[str, Any] | None,
        summary: Mapping[str, float] | None = None,
        last_step: int | None = None,
        url: str | None = None,
    ) -> None:
        self.id, self.name, self.url = run_id, name, url
        self.config = Config(params)
        self.summary = Summary(summary or {}, self._set_summary)
        self.finished = False
        # A resumed run goes on after its last step; the first step of a new run is 1.
        self._next_step = 1 if last_step is None else last_step + 1
        self._summary_steps = {key: last_step or 0 for key in summary or {}}
        self._system: Any = None  # a trainboard.system_metrics.SystemSampler while sampling
        self._created = datetime.now(UTC)  # a server's run says when it was created (system metrics' step 0)

    def start_system_metrics(self, interval_s: float = 5.0) -> None:
        """Sample CPU, memory and any NVIDIA GPU into `system/*` metrics every `interval_s` seconds until
        `finish` (trainboard.system_metrics; `trainboard.init(..., system_metrics=True)` calls this)."""
        from trainboard.system_metrics import SystemSampler, points  # noqa: PLC0415 (psutil only when asked)

        if self._system is not None or self.finished:
            return

        def emit(step: int, values: dict[str, float]) -> None:
            if not self.finished:
                self._record(points(step, values))

        self._system = SystemSampler(emit, origin=self._created, interval_s=interval_s).start()

    def _stop_system_metrics(self) -> None:
        if self._system is not None:
            self._system.stop()
            self._system = None

    @property
    def should_stop(self) -> bool:
        """True once the server stopped the run (early stopping, a cancel); a run the server does not see
        (offline, disabled) never is, so a training loop that checks it runs the same in every mode."""
        return False

    @property
    def params(self) -> dict[str, Any]:
        """The run's config as plain nested dicts (`config` under its older name)."""
        return self.config.as_dict()

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values at `step` (default: one after the last step; the first is 1)."""
        # Every value is checked before any is kept: a refused one leaves the call without effect.
        names = [key if type(key) is str else str(key) for key in metrics]
        values = [checked_value(name, value) for name, value in zip(names, metrics.values(), strict=True)]
        if step is None:
            step = self._next_step
        if step < 0:
            raise ValueError(f"step must be non-negative, but got {step=}")
        step = int(step)
        self._next_step = step + 1
        now = datetime.now(UTC).isoformat()
        points = []
        for name, value in zip(names, values, strict=True):
            points.append({"key": name, "step": step, "value": value, "timestamp": now})
            self.summary.note(name, value)
            self._summary_steps[name] = step
        self._record(points)

    def _set_summary(self, key: str, value: float) -> None:
        """`run.summary[key] = value`: a point at the latest step, after any point `key` already has there
        (the server keeps the first value of a (key, step) and the highest step's in the summary)."""
        number = checked_value(key, value)
        step = max(self._next_step - 1, 0)
        if key in self._summary_steps:
            step = max(step, self._summary_steps[key] + 1)
        self._summary_steps[key] = step
        self.summary.note(key, number)
        self._record(
            [{"key": key, "step": step, "value": number, "timestamp": datetime.now(UTC).isoformat()}]
        )

    def _record(self, points: list[Point]) -> None:
        raise NotImplementedError

    def log_predictions(self, split: str, predictions: Iterable[Mapping[str, Any]]) -> int:
        """Per-example predictions ({"example_id", "label", "predicted", "confidence"?}), for error
        analysis."""
        raise NotImplementedError

    def finish(self, status: str = "succeeded", error: str | None = None) -> None:
        """Mark the run finished (again is a no-op)."""
        raise NotImplementedError

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> dict[str, Any] | None:
        """Store the file at `path` with the run as `name` (default: the file's name; a relative path such
        as "model/best.pt"). Online it is uploaded now (streamed) and the server's record
        ({"path", "size", "sha256"}) returned; offline it is copied into the run's folder and uploaded by
        `trainboard sync` (None returned)."""
        raise NotImplementedError

    def __enter__(self) -> BaseRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("cancelled", "interrupted")
        else:
            self.finish("failed", one_line(exc))

    def _finish_at_exit(self) -> None:
        """Finish at interpreter exit (registered by runs that record something): failed after an uncaught
        exception, else succeeded."""
        _watch_uncaught_exceptions()
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        if self.finished:
            return
        try:
            if _uncaught is not None:
                self.finish("failed", one_line(_uncaught))
            else:
                self.finish()
        except Exception as exc:  # at exit there is nobody left to raise to
            logger.error("could not finish run %s at exit: %s", self.id, exc)

    def _stop_finishing_at_exit(self) -> None:
        atexit.unregister(self._at_exit)


_uncaught: BaseException | None = None
_hook_installed = False


def _watch_uncaught_exceptions() -> None:
    """Remember an uncaught exception so the exit handler can mark open runs failed."""
    global _hook_installed
    if _hook_installed:
        return
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: types.TracebackType | None) -> None:
        global _uncaught
        _uncaught = exc
        previous(exc_type, exc, tb)

    sys.excepthook = hook
    _hook_installed = True


__all__ = ["BaseRun", "checked_value", "one_line"]
