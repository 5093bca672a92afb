"""Seed groups: the spread of a metric over runs that differ only by seed, and the seeds still free.

Pure maths (STYLE habit 3). A gap between two runs smaller than a few standard deviations of the same
config over seeds is noise, not a result; these numbers say how large that noise is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from server.diagnosis import GAPS, RUNGS, ErrorLadder, compute_gaps

#: Hparams.seed's range (server.schemas): seeds wrap around past the largest.
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class MetricStats:
    """Mean and sample standard deviation (n - 1 in the denominator; None for one value) of n values."""

    mean: float
    std: float | None
    n: int


def metric_stats(values: Sequence[float]) -> MetricStats:
    """Mean and sample standard deviation of finite values; raises ValueError when there are none."""
    if not values:
        raise ValueError(f"need at least one value, but got {values=}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must be finite, but got {values=}")
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return MetricStats(mean=mean, std=None, n=1)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return MetricStats(mean=mean, std=math.sqrt(variance), n=n)


def group_stats(summaries: Iterable[Mapping[str, float]]) -> dict[str, MetricStats]:
    """Per metric key, the stats over the summaries that hold a finite value of it; keys sorted.

    Args:
        summaries: One mapping (metric key -> latest value) per finished run of the group.

    Returns:
        Each key any summary holds, with the mean, sample standard deviation and n of its finite
        values. A key whose values are all non-finite (a diverged loss) is left out.
    """
    values: dict[str, list[float]] = {}
    for summary in summaries:
        for key, value in summary.items():
            if value is not None and math.isfinite(value):
                values.setdefault(key, []).append(float(value))
    return {key: metric_stats(values[key]) for key in sorted(values)}


def next_seeds(seed: int, used: Iterable[int], count: int) -> list[int]:
    """``count`` seeds after ``seed`` (seed + 1, seed + 2, ...) that are not in ``used``.

    Past MAX_SEED the count wraps around to 0, so a run seeded near the top still gets fresh seeds.
    """
    if count < 0:
        raise ValueError(f"count must be at least 0, but got {count=}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, {MAX_SEED}], but got {seed=}")
    taken = set(used) | {seed}
    if count > MAX_SEED + 1 - len(taken):
        raise ValueError(f"only {MAX_SEED + 1 - len(taken)} seeds are left, but got {count=}")
    seeds: list[int] = []
    candidate = seed
    while len(seeds) < count:
        candidate = (candidate + 1) % (MAX_SEED + 1)
        if candidate not in taken:
            taken.add(candidate)
            seeds.append(candidate)
    return seeds


def ladder_stats(ladders: Iterable[ErrorLadder]) -> dict[str, MetricStats]:
    """Mean and sample std over a seed group of each rung and each gap of the error ladder.

    Each run's gaps are computed first and then averaged (the mean of dev - train, not the difference of
    the means, so that a run without a train-dev error still counts toward variance). Rungs and gaps no
    run has are left out; keys come in ladder order, rungs first.
    """
    values: dict[str, list[float]] = {}
    for ladder in ladders:
        # Human level is the project's, the same for every run: it has no spread to show.
        row: dict[str, float | None] = {rung: getattr(ladder, rung) for rung in RUNGS[1:]}
        row.update(compute_gaps(ladder))
        for key, value in row.items():
            if value is not None:
                values.setdefault(key, []).append(value)
    return {key: metric_stats(values[key]) for key in (*RUNGS[1:], *GAPS) if key in values}
