"""Smoothing and seed-group bands, and the contract that the browser's copy (static/chart_math.js)
computes exactly what the Python definitions do."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from server.chart_math import MAX_BETA, band, ema

JS = Path(__file__).resolve().parents[2] / "server" / "static" / "chart_math.js"


def test_bias_correction_makes_the_first_smoothed_value_the_first_raw_value() -> None:
    smoothed = ema([0.9, 0.8, 0.7], beta=0.98)
    assert smoothed[0] == pytest.approx(0.9)
    # Without the correction v_1 = 0.02 * 0.9 = 0.018: a curve that starts near zero.
    assert smoothed[1] == pytest.approx((0.98 * 0.02 * 0.9 + 0.02 * 0.8) / (1 - 0.98**2))


def test_a_constant_series_stays_constant_and_beta_zero_is_the_raw_series() -> None:
    assert ema([0.5] * 50, beta=0.9) == pytest.approx([0.5] * 50)
    assert ema([3.0, 1.0, 2.0], beta=0.0) == [3.0, 1.0, 2.0]


def test_smoothing_damps_noise_and_lags_a_step() -> None:
    noisy = [1.0 if i % 2 else 0.0 for i in range(200)]
    tail = ema(noisy, beta=0.9)[100:]
    assert max(tail) - min(tail) < 0.2  # the raw series swings by 1
    step = ema([0.0] * 10 + [1.0] * 10, beta=0.5)
    assert 0.4 < step[10] < 0.6 and step[-1] > 0.99


def test_a_non_finite_value_is_passed_through_without_poisoning_the_rest() -> None:
    smoothed = ema([1.0, math.inf, 1.0], beta=0.5)
    assert smoothed[1] == math.inf and smoothed[2] == pytest.approx(1.0)


def test_beta_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="beta"):
        ema([1.0], beta=1.0)
    with pytest.raises(ValueError, match="beta"):
        ema([1.0], beta=-0.1)


def test_band_is_mean_and_sample_std_per_step_over_the_runs_that_have_it() -> None:
    found = band([[(1, 0.2), (2, 0.1)], [(1, 0.4), (2, 0.3)], [(1, 0.3)]])
    assert found.steps == [1, 2]
    assert found.mean == pytest.approx([0.3, 0.2])
    assert found.std == pytest.approx([0.1, math.sqrt(0.02)])
    assert found.n == [3, 2]
    assert band([[(5, 1.0)]]).std == [0.0]


CASES: list[tuple[list[float], float]] = [  # values, beta
    ([0.9, 0.8, 0.75, 0.5, 0.52, 0.4, 0.41, 0.3], 0.6),
    ([2.5 / (1 + i / 7) + 0.1 * ((i * 7919) % 13) / 13 for i in range(300)], 0.98),
    ([1.0, 2.0, 3.0], 0.0),
    ([1e-8, 1e8, 5.0, 0.001], MAX_BETA),
]
BANDS = [
    [[[1, 0.2], [2, 0.1], [3, 0.05]], [[1, 0.25], [2, 0.12]], [[1, 0.22], [2, 0.09], [3, 0.07], [4, 0.01]]],
    [[[10, 1.0 / 3]], [[10, 2.0 / 3]], [[10, 0.1]], [[20, 5.5]]],
]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_browser_copy_computes_what_python_does() -> None:
    script = f"""
const m = require({json.dumps(str(JS))});
const cases = {json.dumps(CASES)};
const bands = {json.dumps(BANDS)};
console.log(JSON.stringify({{
  ema: cases.map(([values, beta]) => m.ema(values, beta)),
  band: bands.map(b => m.band(b)),
  maxBeta: m.MAX_BETA,
}}));
"""
    out = json.loads(
        subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout
    )
    assert out["maxBeta"] == MAX_BETA
    for (values, beta), js in zip(CASES, out["ema"], strict=True):
        assert js == pytest.approx(ema(values, beta), rel=1e-12, abs=1e-15)
    for series, js in zip(BANDS, out["band"], strict=True):
        py = band([[(s, v) for s, v in points] for points in series])
        assert js["steps"] == py.steps and js["n"] == py.n
        assert js["mean"] == pytest.approx(py.mean, rel=1e-12)
        assert js["std"] == pytest.approx(py.std, rel=1e-12, abs=1e-15)
