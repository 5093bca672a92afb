"""Parameter importance: how much of the objective's spread each parameter explains, from a small random
forest fitted on the finished trials, each parameter on its own (internal) scale."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from server.search.distributions import BaseDistribution, ChoiceDistribution

#: Fewer trials than this and a forest says more about noise than about the parameters.
MIN_TRIALS = 4


def parameter_importance(
    distributions: Mapping[str, BaseDistribution],
    trials: Sequence[tuple[Mapping[str, Any], float]],
    *,
    seed: int = 0,
) -> list[tuple[str, float]]:
    """(path, importance) pairs that sum to 1, most important first; [] with too few finished trials."""
    from sklearn.ensemble import RandomForestRegressor

    rows, targets = [], []
    for params, value in trials:
        if not math.isfinite(value) or any(path not in params for path in distributions):
            continue
        rows.append([_encode(d, params[path]) for path, d in distributions.items()])
        targets.append(value)
    if len(rows) < MIN_TRIALS or not distributions:
        return []
    x, y = np.asarray(rows, dtype=float), np.asarray(targets, dtype=float)
    if np.ptp(y) == 0:
        return [(path, 0.0) for path in distributions]
    forest = RandomForestRegressor(n_estimators=64, max_depth=4, random_state=seed)
    forest.fit(x, y)
    scores = forest.feature_importances_
    total = float(scores.sum()) or 1.0
    pairs = [(path, float(score) / total) for path, score in zip(distributions, scores, strict=True)]
    return sorted(pairs, key=lambda pair: -pair[1])


def _encode(distribution: BaseDistribution, value: Any) -> float:
    if isinstance(distribution, ChoiceDistribution):
        try:
            return distribution.to_internal(value)
        except ValueError:
            return -1.0
    return distribution.to_internal(value)
