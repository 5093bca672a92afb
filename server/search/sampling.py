"""Candidate configs: seeded random search, grid search over the product, and coarse-to-fine zooming."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.search.distributions import (
    BaseDistribution,
    ChoiceDistribution,
    IntUniformDistribution,
    InvalidSearchSpace,
    LogUniformDistribution,
    OneMinusLogUniformDistribution,
    SearchSpace,
    UniformDistribution,
)

#: Largest grid we build: a bigger product is a sign the user wanted random search.
MAX_GRID = 10_000


def sample_random(space: SearchSpace, n_trials: int, seed: int) -> list[dict[str, Any]]:
    """`n_trials` parameter sets, each drawn independently; the same seed gives the same list."""
    if n_trials < 0:
        raise ValueError(f"n_trials must be non-negative, but got {n_trials=}")
    rng = np.random.default_rng(seed)
    return [{path: d.sample(rng) for path, d in space.distributions.items()} for _ in range(n_trials)]


def grid_axis(path: str, distribution: BaseDistribution, space: SearchSpace) -> list[Any]:
    """The values one parameter takes in a grid search."""
    if path in space.grid_values:
        return list(space.grid_values[path])
    if isinstance(distribution, ChoiceDistribution):
        return list(distribution.choices)
    if path in space.grid_sizes:
        return distribution.grid(space.grid_sizes[path])
    if isinstance(distribution, IntUniformDistribution) and distribution.high - distribution.low < 100:
        return distribution.grid(distribution.high - distribution.low + 1)
    raise InvalidSearchSpace(
        path, f"grid search needs 'grid' (a number of points) or 'values' for a {distribution.kind} range"
    )


def grid_points(space: SearchSpace) -> list[dict[str, Any]]:
    """Every combination of the parameters' grid values (the first parameter varies slowest)."""
    axes = {path: grid_axis(path, d, space) for path, d in space.distributions.items()}
    size = math.prod(len(values) for values in axes.values())
    if size > MAX_GRID:
        raise InvalidSearchSpace(
            "space", f"the grid has {size} points, more than {MAX_GRID}: use random search"
        )
    return [dict(zip(axes, combination, strict=True)) for combination in itertools.product(*axes.values())]


def suggest(space: SearchSpace, *, strategy: str, n_trials: int, seed: int) -> list[dict[str, Any]]:
    """The parameter sets of a sweep's trials, in order."""
    if strategy == "grid":
        points = grid_points(space)
        if len(points) > n_trials:
            # A budget smaller than the grid runs an evenly spread, seeded subset of it.
            index = np.random.default_rng(seed).choice(len(points), size=n_trials, replace=False)
            return [points[i] for i in sorted(index.tolist())]
        return points
    if strategy in ("random", "coarse_to_fine"):
        return sample_random(space, n_trials, seed)
    raise ValueError(f"strategy must be 'random', 'grid' or 'coarse_to_fine', but got {strategy=}")


def grid_size(space: SearchSpace) -> int:
    """How many points a grid search over `space` has."""
    return math.prod(len(grid_axis(p, d, space)) for p, d in space.distributions.items())


@dataclass(frozen=True)
class ZoomResult:
    """The shrunk space and, per parameter, the values of the top trials it was built around."""

    space: SearchSpace
    top_values: dict[str, list[Any]]


def zoom_space(
    space: SearchSpace,
    trials: Sequence[tuple[dict[str, Any], float]],
    *,
    top_k: int = 3,
    margin: float = 0.25,
) -> ZoomResult:
    """Coarse to fine: shrink each range around the `top_k` best trials (lowest objective), on its own scale.

    `trials` holds (params, objective) of the trials to rank: the caller passes the feasible ones only
    (`best.feasible_trials`), so that the finer search stays where the satisficing constraints hold.

    Each new range spans the top trials' values, widened by `margin` of that span on both sides (and by at
    least `margin / 2` of the old range, so that a single best trial still leaves room to explore),
    clipped to the old range. Choices keep only the options the top trials used.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, but got {top_k=}")
    if not 0 <= margin <= 1:
        raise ValueError(f"margin must be in [0, 1], but got {margin=}")
    finished = [(params, value) for params, value in trials if math.isfinite(value)]
    if not finished:
        raise ValueError("zooming needs at least one finished trial with a finite objective")
    top = sorted(finished, key=lambda item: item[1])[:top_k]
    distributions: dict[str, BaseDistribution] = {}
    top_values: dict[str, list[Any]] = {}
    for path, distribution in space.distributions.items():
        values = [params[path] for params, _ in top if path in params]
        top_values[path] = values
        distributions[path] = _zoom_one(distribution, values, margin) if values else distribution
    return ZoomResult(SearchSpace(distributions, dict(space.grid_sizes), {}), top_values)


def _zoom_one(distribution: BaseDistribution, values: list[Any], margin: float) -> BaseDistribution:
    if isinstance(distribution, ChoiceDistribution):
        kept = tuple(c for c in distribution.choices if any(c == v for v in values))
        return ChoiceDistribution(kept or distribution.choices)
    low, high = distribution.internal_bounds()
    xs = [distribution.to_internal(v) for v in values]
    span = max(xs) - min(xs)
    pad = max(margin * span, margin / 2 * (high - low))
    new_low, new_high = max(low, min(xs) - pad), min(high, max(xs) + pad)
    ends = sorted([distribution.from_internal(new_low), distribution.from_internal(new_high)])
    if isinstance(distribution, IntUniformDistribution):
        return IntUniformDistribution(int(ends[0]), int(ends[1]))
    if isinstance(distribution, LogUniformDistribution):
        return LogUniformDistribution(ends[0], ends[1])
    if isinstance(distribution, OneMinusLogUniformDistribution):
        return OneMinusLogUniformDistribution(ends[0], ends[1])
    if isinstance(distribution, UniformDistribution):
        return UniformDistribution(ends[0], ends[1])
    raise TypeError(f"cannot zoom a {type(distribution).__name__}")
