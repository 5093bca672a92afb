"""System metrics: CPU, memory and, where NVML finds NVIDIA GPUs, their utilisation and memory, sampled
every few seconds into ``system/*`` keys that go through the normal metrics path (and chart like any key).

The worker samples every run it trains; a script's run does when asked, ``trainboard.init(...,
system_metrics=True)``. GPUs are read through NVML (``pip install 'trainboard[gpu]'``, the
``nvidia-ml-py`` package); without it, without a driver or without a GPU they are skipped, once, quietly.

A sample's step is the whole seconds since the run was created, so samples stay in order and distinct
across a resumed run's attempts (the server keeps the first value of a (key, step)).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

logger = logging.getLogger("trainboard")

#: The prefix of every system metric (the charts give it a panel of its own, last).
PREFIX = "system/"
#: Seconds between samples by default.
INTERVAL_S = 5.0

Emit = Callable[[int, dict[str, float]], object]


def _nvml() -> ModuleType | None:
    """pynvml, initialised, or None when it or a GPU is missing."""
    try:  # an optional extra, trainboard[gpu] (the nvidia-ml-py package)
        pynvml = importlib.import_module("pynvml")
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            pynvml.nvmlShutdown()
            return None
    except Exception as exc:  # noqa: BLE001 (NVMLError and its many subclasses: no driver, no GPU)
        logger.debug("trainboard: no GPU metrics (%s)", exc)
        return None
    return pynvml


class SystemSampler:
    """Samples the machine every `interval_s` on a daemon thread and hands each sample to `emit(step,
    values)`; `stop` ends the thread (also a context manager). `sample` reads one sample now."""

    def __init__(self, emit: Emit, *, origin: datetime | None = None, interval_s: float = INTERVAL_S) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, but got {interval_s=}")
        self.emit, self.interval_s = emit, interval_s
        self.origin = (origin or datetime.now(UTC)).timestamp()
        # Imported here, so only a run that samples pays for it; as a module, untyped (no stubs installed).
        psutil = importlib.import_module("psutil")
        self._psutil = psutil
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpu: ModuleType | None = _nvml()
        psutil.cpu_percent(None)  # the first reading is meaningless: it starts the interval

    def sample(self) -> dict[str, float]:
        """One reading of every system metric, by key."""
        psutil = self._psutil
        memory = psutil.virtual_memory()
        values = {
            f"{PREFIX}cpu_percent": float(psutil.cpu_percent(None)),
            f"{PREFIX}memory_percent": float(memory.percent),
            f"{PREFIX}memory_used_gb": memory.used / 2**30,
            f"{PREFIX}process_memory_gb": self._process.memory_info().rss / 2**30,
        }
        if self._gpu is not None:
            values |= self._gpu_values(self._gpu)
        return values

    def _gpu_values(self, nvml: Any) -> dict[str, float]:
        values: dict[str, float] = {}
        try:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                values[f"{PREFIX}gpu{index}_utilization_percent"] = float(rates.gpu)
                values[f"{PREFIX}gpu{index}_memory_percent"] = 100.0 * memory.used / max(memory.total, 1)
                values[f"{PREFIX}gpu{index}_memory_used_gb"] = memory.used / 2**30
        except Exception as exc:  # noqa: BLE001 (a GPU that fell off the bus: stop asking)
            logger.warning("trainboard: GPU metrics stopped (%s)", exc)
            self._gpu = None
        return values

    def step(self) -> int:
        """The step of a sample taken now: whole seconds since the origin."""
        return max(0, int(time.time() - self.origin))

    def start(self) -> SystemSampler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trainboard-system-metrics", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.emit_once()

    def emit_once(self) -> None:
        """Take a sample and emit it; a failure is logged, never raised (metrics must not end training)."""
        try:
            self.emit(self.step(), self.sample())
        except Exception as exc:  # noqa: BLE001
            logger.warning("trainboard: system metrics not recorded: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._gpu is not None:
            try:
                self._gpu.nvmlShutdown()
            except Exception:  # noqa: BLE001, S110 (shutting down anyway)
                pass
            self._gpu = None

    def __enter__(self) -> SystemSampler:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_origin(run: Mapping[str, Any]) -> datetime | None:
    """When a run (as the API returns it) was created: its system metrics' step 0."""
    text = run.get("created_at")
    if not text:
        return None
    created = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def points(step: int, values: dict[str, float]) -> list[dict[str, Any]]:
    """The metric points of one sample, stamped now."""
    now = datetime.now(UTC).isoformat()
    return [{"key": key, "step": step, "value": value, "timestamp": now} for key, value in values.items()]
