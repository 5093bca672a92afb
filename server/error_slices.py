"""Slices of the data where a model errs far more than overall: a shallow decision tree over the features.

Pure maths (habit 3): arrays in, frozen dataclasses out. The tree predicts "is this example misclassified?"
from the example's features; each leaf is a readable slice (a conjunction of thresholds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from server.error_analysis import HOT_LIFT


@dataclass(frozen=True)
class ErrorSlice:
    """One leaf of the tree: the rules that reach it, how many examples it holds and how many are errors."""

    rules: tuple[str, ...]
    examples: int
    errors: int
    error_rate: float
    lift: float  # error_rate / the overall error rate

    @property
    def description(self) -> str:
        return " and ".join(self.rules) or "all examples"

    @property
    def hot(self) -> bool:
        """Erred on far more often than the split as a whole (the same bar as a class's)."""
        return self.lift >= HOT_LIFT


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def error_slices(
    features: np.ndarray,
    is_error: Sequence[bool] | np.ndarray,
    feature_names: Sequence[str],
    *,
    max_depth: int = 3,
    min_examples: int = 10,
    seed: int = 0,
) -> tuple[ErrorSlice, ...]:
    """Leaves of a depth-limited tree fit to predict errors, worst error rate first.

    Args:
        features: (N, F) feature values of the examples.
        is_error: (N,) whether each example is misclassified.
        feature_names: F names used in the rules.
        max_depth: Depth of the tree (2 or 3 keeps the rules readable).
        min_examples: Smallest leaf, so that a slice of two unlucky examples is not reported.
    """
    x = np.asarray(features, dtype=float)
    y = np.asarray(is_error, dtype=bool).reshape(-1)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features must be (N, F) with N = len(is_error), but got {x.shape=} and {len(y)=}")
    if x.shape[1] != len(feature_names):
        raise ValueError(f"need one name per feature, but got {x.shape[1]=} and {len(feature_names)=}")
    if not 1 <= max_depth <= 5:
        raise ValueError(f"max_depth must be in [1, 5], but got {max_depth=}")
    if len(y) == 0 or y.all() or not y.any():
        return ()
    overall = float(y.mean())
    tree = DecisionTreeClassifier(
        max_depth=max_depth, min_samples_leaf=max(1, min_examples), random_state=seed
    ).fit(x, y)
    t = tree.tree_
    leaf_of = tree.apply(x)
    leaves: list[ErrorSlice] = []

    def walk(node: int, bounds: dict[tuple[int, str], float]) -> None:
        left, right = t.children_left[node], t.children_right[node]
        if left == right:  # a leaf
            reached = leaf_of == node
            n, e = int(reached.sum()), int(y[reached].sum())
            rate = e / n if n else 0.0
            rules = tuple(f"{feature_names[f]} {op} {_fmt(v)}" for (f, op), v in sorted(bounds.items()))
            leaves.append(ErrorSlice(rules, n, e, rate, rate / overall))
            return
        feature, threshold = int(t.feature[node]), float(t.threshold[node])
        # Keep only the tightest bound per feature and side: "a ≤ 1 and a ≤ 0" reads as "a ≤ 0".
        upper = min(bounds.get((feature, "≤"), np.inf), threshold)
        lower = max(bounds.get((feature, ">"), -np.inf), threshold)
        walk(left, {**bounds, (feature, "≤"): upper})
        walk(right, {**bounds, (feature, ">"): lower})

    walk(0, {})
    return tuple(sorted(leaves, key=lambda s: (-s.error_rate, -s.examples)))
