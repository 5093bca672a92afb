"""Learning-curve summaries: the best epoch, shape-keeping downsampling and curves over data size."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from server.diagnosis import validate_error_rate


@dataclass(frozen=True)
class DataSizePoint:
    """Train and dev error of a run trained on ``train_examples`` examples; ``gap`` is dev - train."""

    train_examples: int
    train_error: float | None
    dev_error: float | None
    gap: float | None


def best_epoch(points: Sequence[tuple[int, float]]) -> tuple[int, float] | None:
    """The (epoch, dev error) with the lowest finite error, earliest on ties; None if there is none."""
    finite = [(epoch, value) for epoch, value in points if math.isfinite(value)]
    if not finite:
        return None
    return min(finite, key=lambda point: (point[1], point[0]))


def downsample_minmax(
    steps: np.ndarray, values: np.ndarray, max_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a series to at most ``max_points`` points that keep its shape.

    Keeps the first and last points, and the minimum and maximum of each of ``(max_points - 2) // 2``
    equal-count buckets in between, in step order; so the global minimum and maximum survive whenever
    ``max_points >= 4``. A series already short enough comes back as a copy.

    Args:
        steps: 1-D array of distinct steps; sorted here when they are not.
        values: 1-D array of the same length. A NaN wins its bucket's min and max, so divergence shows.
        max_points: The most points to return, at least 2.
    """
    if isinstance(max_points, bool) or not isinstance(max_points, int | np.integer):
        raise ValueError(f"max_points must be an integer, but got {max_points=}")
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, but got {max_points=}")
    steps, values = np.asarray(steps), np.asarray(values)
    if steps.ndim != 1 or steps.shape != values.shape:
        raise ValueError(
            f"steps and values must be 1-D of the same length, but got {steps.shape=}, {values.shape=}"
        )
    if steps.size > 1 and np.any(steps[1:] < steps[:-1]):
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
    if steps.size > 1 and np.any(steps[1:] == steps[:-1]):
        repeated = steps[1:][steps[1:] == steps[:-1]][0]
        raise ValueError(f"steps must be distinct, but got step={repeated} twice")
    n = steps.size
    if n <= max_points:
        return steps.copy(), values.copy()
    keep = np.concatenate([[0, n - 1], 1 + _bucket_extremes(values[1:-1], (max_points - 2) // 2)])
    keep = np.unique(keep)  # sorted, and a point that is both min and max is kept once
    return steps[keep], values[keep]


def _bucket_extremes(values: np.ndarray, buckets: int) -> np.ndarray:
    """Indexes of the min and the max of each of ``buckets`` equal-count buckets of ``values``."""
    if buckets == 0:
        return np.empty(0, dtype=np.intp)
    width = -(-values.size // buckets)  # ceiling division
    # Pad to a buckets x width grid with values that never win, then drop any hit on the padding.
    offsets = np.arange(buckets) * width
    lows = offsets + np.argmin(_grid(values, buckets, width, np.inf), axis=1)
    highs = offsets + np.argmax(_grid(values, buckets, width, -np.inf), axis=1)
    found = np.concatenate([lows, highs])
    return found[found < values.size]


def _grid(values: np.ndarray, rows: int, width: int, padding: float) -> np.ndarray:
    grid = np.full(rows * width, padding)
    grid[: values.size] = values
    return grid.reshape(rows, width)


def merge_extremes(
    min_steps: np.ndarray, min_values: np.ndarray, max_steps: np.ndarray, max_values: np.ndarray, buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive per-bucket extremes into at most ``buckets`` groups.

    Returns their points in step order.

    Row ``i`` holds the minimum ``(min_steps[i], min_values[i])`` and the maximum of one bucket of a series,
    buckets in step order. Rows are merged into ``buckets`` equal-count groups, keeping the minimum and the
    maximum of each, so at most ``2 * buckets`` points come back and the global extremes always survive.
    """
    if isinstance(buckets, bool) or not isinstance(buckets, int | np.integer) or buckets < 1:
        raise ValueError(f"buckets must be a positive integer, but got {buckets=}")
    n = min_values.size
    if not (min_steps.size == max_steps.size == max_values.size == n):
        raise ValueError(f"the four arrays must have the same length, but got {n=}, {max_values.size=}")
    if n <= buckets:
        lows = highs = np.arange(n)
    else:
        width = -(-n // buckets)
        offsets = np.arange(buckets) * width
        lows = offsets + np.argmin(_grid(min_values, buckets, width, np.inf), axis=1)
        highs = offsets + np.argmax(_grid(max_values, buckets, width, -np.inf), axis=1)
        lows, highs = lows[lows < n], highs[highs < n]
    steps = np.concatenate([min_steps[lows], max_steps[highs]])
    values = np.concatenate([min_values[lows], max_values[highs]])
    steps, keep = np.unique(steps, return_index=True)
    return steps, values[keep]


def data_size_curve(runs: Sequence[tuple[int, float | None, float | None]]) -> tuple[DataSizePoint, ...]:
    """Points of a learning curve over training-set size, one per run, sorted by number of examples.

    Args:
        runs: ``(train_examples, train_error, dev_error)`` per run; errors may be None when not logged.
    """
    points = []
    for train_examples, train_error, dev_error in runs:
        if isinstance(train_examples, bool) or not isinstance(train_examples, int) or train_examples < 1:
            raise ValueError(f"train_examples must be a positive integer, but got {train_examples=}")
        validate_error_rate("train_error", train_error)
        validate_error_rate("dev_error", dev_error)
        gap = None if train_error is None or dev_error is None else round(dev_error - train_error, 12)
        points.append(DataSizePoint(train_examples, train_error, dev_error, gap))
    return tuple(sorted(points, key=lambda point: point.train_examples))


def _points(value: float) -> str:
    return f"{value * 100:.1f}"


def read_data_size_curve(points: Sequence[DataSizePoint], *, threshold: float = 0.01) -> str:
    """One sentence reading a data-size curve: does the dev - train gap keep closing as data grows?

    Args:
        points: The curve, as :func:`data_size_curve` returns it (sorted by ``train_examples``).
        threshold: A gap (or a change of gap) below this fraction counts as closed (or as flat).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold >= 0:
        raise ValueError(f"threshold must be a non-negative number, but got {threshold=}")
    full = [p for p in points if p.gap is not None]
    if len(full) < 2:
        return "Not enough finished runs to read the curve yet: it needs train and dev error at two sizes."
    first, previous, last = full[0], full[-2], full[-1]
    assert first.gap is not None and previous.gap is not None and last.gap is not None
    if last.gap <= threshold:
        return (
            f"Train and dev error have met at {last.train_examples:,} examples "
            f"(gap {_points(last.gap)} points): more data will not help much; "
            "reduce bias instead (a bigger network, training longer)."
        )
    span = f"{previous.train_examples:,} to {last.train_examples:,} examples"
    if previous.gap - last.gap >= threshold / 2:
        return (
            "The gap between dev and train error keeps closing as data grows "
            f"({_points(previous.gap)} -> {_points(last.gap)} points from {span}): "
            "more data is likely to help."
        )
    if first.gap - last.gap >= threshold:
        return (
            f"The gap closed from {_points(first.gap)} to {_points(last.gap)} points but has flattened out "
            f"({span}): more data of the same kind helps little now; try regularisation."
        )
    return (
        f"The gap between dev and train error is not closing ({_points(first.gap)} -> {_points(last.gap)} "
        "points): more data of the same kind is unlikely to help; look at regularisation or data mismatch."
    )


def read_transfer_comparison(
    transferred: Sequence[DataSizePoint], scratch: Sequence[DataSizePoint], *, threshold: float = 0.01
) -> str:
    """One sentence on when transfer pays: dev error of the fine-tuned runs against the same config from
    scratch, at the training-set sizes both measured.

    Args:
        transferred: The fine-tuned curve, as :func:`data_size_curve` returns it.
        scratch: The from-scratch curve at the same fractions.
        threshold: A dev-error difference below this fraction counts as a tie.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold >= 0:
        raise ValueError(f"threshold must be a non-negative number, but got {threshold=}")
    theirs = {p.train_examples: p.dev_error for p in scratch if p.dev_error is not None}
    pairs = [
        (p.train_examples, p.dev_error, theirs[p.train_examples])
        for p in transferred
        if p.dev_error is not None and p.train_examples in theirs
    ]
    if not pairs:
        return (
            "Not enough finished runs to compare yet: it needs dev error with and without transfer "
            "at one size."
        )
    wins = [n for n, tuned, fresh in pairs if fresh - tuned >= threshold]
    if len(wins) == len(pairs):
        n, tuned, fresh = pairs[-1]
        return (
            f"Transfer wins at every size measured, still at {n:,} examples (dev error "
            f"{_points(tuned)} % against {_points(fresh)} % from scratch): keep fine-tuning; with more "
            "target data, train more layers."
        )
    if not wins:
        return (
            "Transfer does not pay here: from scratch is as good at every size measured; the source's "
            "features may not suit this task."
        )
    last_win = max(wins)
    after = [n for n, _, _ in pairs if n > last_win]
    if after:
        return (
            f"Transfer wins up to {last_win:,} training examples; from {after[0]:,} on, training from "
            "scratch does as well or better: below that size, fine-tune."
        )
    return (
        f"Transfer wins at {', '.join(f'{n:,}' for n in wins)} training examples, not at every size measured."
    )
