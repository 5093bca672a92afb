"""Inference latency for the satisficing constraint: the same model measures the same from call to call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from models import build_model
from worker.train import measure_latency

KEYS = ("latency_ms_b1", "latency_ms_b256")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The worker's setting on a 2-core machine (worker/tasks.py: the cores less one): with two threads,
    a busy second core stalls every pass of a call, and no estimator can see past that."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_repeated_measurements_agree() -> None:
    torch.manual_seed(0)
    model = build_model({"name": "mlp", "hidden": [64, 64]}, input_shape=(1, 8, 8), n_classes=10)
    results = [measure_latency(model, (1, 8, 8), torch.device("cpu")) for _ in range(9)]
    for key in KEYS:
        values = sorted(result[key] for result in results)
        # Five of nine, the second to the sixth fastest: other load only ever slows a measurement, and a
        # burst of it can slow several whole ones (seen: two of five 50 % slower with load average 6-8, and
        # two of seven 60 % slower with the suite's four processes on two cores), which says nothing of the
        # method. Up to three slow ones and one fast one are left out.
        spread = (values[5] - values[1]) / values[3]
        # Timing 30 and 5 passes once (0.6 and 0.3 ms in all) spread by 400 % to 1,800 % on a busy
        # 2-core machine; the fastest of 25 blocks of 2 ms, by 1 % to 7 %.
        assert spread < 0.5, f"{key}: {values}"


def test_latency_keeps_its_keys_the_models_mode_and_the_rng() -> None:
    model = build_model({"name": "mlp", "hidden": [8], "batch_norm": True}, input_shape=(4,), n_classes=2)
    model.train()
    rng = torch.get_rng_state()
    result = measure_latency(model, (4,), torch.device("cpu"))
    assert sorted(result) == sorted(KEYS) and all(value > 0 for value in result.values())
    assert model.training and torch.equal(torch.get_rng_state(), rng)
