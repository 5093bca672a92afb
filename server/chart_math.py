"""The maths the charts draw with: smoothing and seed-group bands. Pure (STYLE habit 3).

The browser redraws on every move of the smoothing slider, so these run client-side too:
``server/static/chart_math.js`` is their one JavaScript copy, pinned to these definitions by
``tests/server/test_chart_math.py`` (which runs both on the same inputs through node).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: The slider's range: 0 draws the raw series, 0.999 averages about the last thousand points.
MAX_BETA = 0.999


def ema(values: Sequence[float], beta: float) -> list[float]:
    """Exponentially weighted moving average with bias correction (Andrew Ng's course).

    v_0 = 0, v_t = beta * v_{t-1} + (1 - beta) * x_t, and the point drawn is v_t / (1 - beta ** t): without
    the correction the first points would start near 0. The first smoothed value is the first raw value;
    beta = 0 returns the series unchanged. A non-finite value (a diverged loss) is passed through as is
    and leaves the average where it was.

    Raises:
        ValueError: beta outside [0, MAX_BETA].
    """
    if not 0.0 <= beta <= MAX_BETA:
        raise ValueError(f"beta must be in [0, {MAX_BETA}], but got {beta!r}")
    smoothed: list[float] = []
    average, weight = 0.0, 0.0  # weight = 1 - beta ** t over the finite values seen
    for value in values:
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        average = beta * average + (1.0 - beta) * value
        weight = beta * weight + (1.0 - beta)
        smoothed.append(average / weight)
    return smoothed


@dataclass(frozen=True)
class Band:
    """Per step, the mean over the runs that logged it, its sample standard deviation (0 for one run)
    and how many runs that is."""

    steps: list[float]
    mean: list[float]
    std: list[float]
    n: list[int]


def band(series: Sequence[Sequence[tuple[float, float]]]) -> Band:
    """Mean +/- std of several runs' series (a seed group), step by step.

    Each series is (step, value) pairs; a step takes the finite values of the runs that have it, so a run
    that stopped early narrows the band to the others from there on. Steps sorted ascending."""
    values: dict[float, list[float]] = {}
    for points in series:
        for step, value in points:
            if math.isfinite(value):
                values.setdefault(step, []).append(float(value))
    steps = sorted(values)
    means: list[float] = []
    stds: list[float] = []
    for step in steps:
        found = values[step]
        mean = math.fsum(found) / len(found)
        variance = math.fsum((v - mean) ** 2 for v in found) / (len(found) - 1) if len(found) > 1 else 0.0
        means.append(mean)
        stds.append(math.sqrt(variance))
    return Band(steps=steps, mean=means, std=stds, n=[len(values[s]) for s in steps])
