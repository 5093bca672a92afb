import math

import numpy as np
import pytest

from server.learning_curves import DataSizePoint, best_epoch, data_size_curve, downsample_minmax


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(1, 0.3), (2, 0.2), (3, 0.25)], (2, 0.2)),
        ([(1, 0.3), (2, 0.2), (3, 0.2)], (2, 0.2)),
        ([(3, 0.2), (2, 0.2), (1, 0.4)], (2, 0.2)),
        ([(1, 0.3), (2, math.nan), (3, math.inf)], (1, 0.3)),
        ([(1, math.nan)], None),
        ([], None),
    ],
)
def test_best_epoch(points: list, expected: tuple | None) -> None:
    assert best_epoch(points) == expected


def _random_walk(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(1, n + 1), np.cumsum(rng.normal(size=n))


@pytest.mark.parametrize(("n", "max_points"), [(1000, 4), (1000, 5), (1000, 100), (101, 100), (10_001, 999)])
def test_downsample_keeps_shape(n: int, max_points: int) -> None:
    steps, values = _random_walk(n)
    kept_steps, kept_values = downsample_minmax(steps, values, max_points)
    assert len(kept_steps) == len(kept_values) <= max_points
    assert (kept_steps[0], kept_steps[-1]) == (steps[0], steps[-1])
    assert kept_values.min() == values.min() and kept_values.max() == values.max()
    assert np.all(np.diff(kept_steps) > 0)
    assert np.array_equal(kept_values, values[np.searchsorted(steps, kept_steps)])


@pytest.mark.parametrize("max_points", [2, 3])
def test_downsample_to_two_or_three_points_keeps_the_ends(max_points: int) -> None:
    steps, values = _random_walk(50)
    kept_steps, _ = downsample_minmax(steps, values, max_points)
    assert kept_steps.tolist() == [1, 50]


@pytest.mark.parametrize("n", [0, 1, 5, 10])
def test_downsample_short_series_is_an_exact_copy(n: int) -> None:
    steps, values = _random_walk(n)
    kept_steps, kept_values = downsample_minmax(steps, values, 10)
    assert np.array_equal(kept_steps, steps) and np.array_equal(kept_values, values)
    assert kept_values is not values


def test_downsample_sorts_unsorted_steps() -> None:
    kept_steps, kept_values = downsample_minmax(np.array([3, 1, 2]), np.array([0.3, 0.1, 0.2]), 10)
    assert kept_steps.tolist() == [1, 2, 3] and kept_values.tolist() == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    ("steps", "values", "max_points", "message"),
    [
        ([1, 2], [0.1, 0.2], 1, r"^max_points must be at least 2, but got max_points=1$"),
        ([1, 2], [0.1, 0.2], 2.5, "max_points must be an integer"),
        ([1, 2], [0.1], 10, "same length"),
        ([1, 1], [0.1, 0.2], 10, "steps must be distinct, but got step=1 twice"),
    ],
)
def test_downsample_rejects_bad_input(steps: list, values: list, max_points: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        downsample_minmax(np.array(steps), np.array(values), max_points)


def test_downsample_million_points_keeps_extremes() -> None:
    # Timing lives in bench/; this checks the vectorised path on a long series.
    steps, values = _random_walk(1_000_000)
    kept_steps, kept_values = downsample_minmax(steps, values, 1000)
    assert len(kept_steps) <= 1000
    assert kept_values.min() == values.min() and kept_values.max() == values.max()
    assert kept_steps[0] == steps[0] and kept_steps[-1] == steps[-1]


def test_data_size_curve_sorts_by_examples() -> None:
    curve = data_size_curve([(1000, 0.10, 0.20), (100, 0.05, None), (10_000, 0.12, 0.15)])
    assert [p.train_examples for p in curve] == [100, 1000, 10_000]
    assert curve[0] == DataSizePoint(100, 0.05, None, None)
    assert curve[1].gap == pytest.approx(0.10)


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ((0, 0.1, 0.2), "but got train_examples=0"),
        ((1.5, 0.1, 0.2), "but got train_examples=1.5"),
        ((10, 1.2, 0.2), "but got train_error=1.2"),
        ((10, 0.1, -0.2), "but got dev_error=-0.2"),
    ],
)
def test_data_size_curve_rejects_bad_runs(run: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        data_size_curve([run])
