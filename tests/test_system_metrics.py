"""System metrics: CPU and memory always, NVIDIA GPUs through NVML when present, as system/* points."""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import trainboard
from trainboard import _session, system_metrics
from trainboard.settings import get_settings
from trainboard.system_metrics import SystemSampler, run_origin


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError


def test_a_sample_holds_cpu_and_memory_and_no_gpu_without_nvml(no_gpu: None) -> None:
    values = SystemSampler(lambda step, values: None).sample()
    assert {
        "system/cpu_percent",
        "system/memory_percent",
        "system/memory_used_gb",
        "system/process_memory_gb",
    } <= set(values)
    assert not any("gpu" in key for key in values)
    assert 0 <= values["system/cpu_percent"] <= 100 * 1024 and 0 < values["system/memory_percent"] <= 100
    assert values["system/process_memory_gb"] > 0


def _fake_nvml(fail_on_read: bool = False) -> types.ModuleType:
    nvml = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]

    def rates(handle: int) -> types.SimpleNamespace:
        if fail_on_read:
            raise RuntimeError("GPU is lost")
        return types.SimpleNamespace(gpu=30 + handle, memory=0)

    nvml.nvmlDeviceGetUtilizationRates = rates  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2**30 * (h + 1), total=2**32)  # type: ignore[attr-defined]
    return nvml


def test_each_gpu_nvml_sees_gets_utilisation_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml())
    values = SystemSampler(lambda step, values: None).sample()
    assert values["system/gpu0_utilization_percent"] == 30 and values["system/gpu1_utilization_percent"] == 31
    assert values["system/gpu1_memory_percent"] == pytest.approx(50.0)
    assert values["system/gpu0_memory_used_gb"] == pytest.approx(1.0)


def test_a_gpu_that_fails_is_dropped_and_sampling_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(fail_on_read=True))
    sampler = SystemSampler(lambda step, values: None)
    assert not any("gpu" in key for key in sampler.sample())
    assert "system/cpu_percent" in sampler.sample()


def test_the_sampler_emits_every_interval_with_steps_in_seconds_since_the_origin(no_gpu: None) -> None:
    seen: list[tuple[int, dict[str, float]]] = []
    got_two = threading.Event()

    def emit(step: int, values: dict[str, float]) -> None:
        seen.append((step, values))
        if len(seen) >= 2:
            got_two.set()

    origin = datetime.now(UTC) - timedelta(seconds=100)
    with SystemSampler(emit, origin=origin, interval_s=0.05):
        assert got_two.wait(5)
    count = len(seen)
    time.sleep(0.15)
    assert len(seen) == count  # stopped
    assert all(100 <= step <= 105 for step, _ in seen)


def test_an_emit_that_fails_never_raises_into_training(no_gpu: None) -> None:
    def emit(step: int, values: dict[str, float]) -> None:
        raise ConnectionError("server away")

    SystemSampler(emit).emit_once()  # logged, not raised


def test_run_origin_reads_the_servers_created_at() -> None:
    assert run_origin({"created_at": "2026-03-01T12:00:00Z"}) == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert run_origin({"created_at": "2026-03-01T12:00:00"}) == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert run_origin({}) is None


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("TRAINBOARD_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    _session.current = None
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_script_opts_in_and_its_run_records_system_points_until_finish(data: Path, no_gpu: None) -> None:
    plain = trainboard.init(project="no-system", mode="offline")
    assert plain._system is None  # opt-in only
    plain.finish()

    run = trainboard.init(project="system", mode="offline", system_metrics=True)
    assert run._system is not None and run._system.interval_s == system_metrics.INTERVAL_S
    run._stop_system_metrics()
    run.start_system_metrics(interval_s=0.05)
    run.log({"loss": 1.0})
    time.sleep(0.3)
    run.finish()
    assert run._system is None
    lines = (data / "spool").glob("offline-*/points.jsonl")
    points = [json.loads(line) for path in lines for line in path.read_text().splitlines()]
    keys = {point["key"] for point in points}
    assert {"loss", "system/cpu_percent", "system/memory_percent"} <= keys
    assert run._next_step == 2  # system samples do not move the script's own steps
