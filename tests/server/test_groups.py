"""Seed-group maths on worked examples: mean, sample standard deviation (n - 1), n, and the next seeds."""

from __future__ import annotations

import math

import pytest

from server.diagnosis import ErrorLadder
from server.groups import MAX_SEED, MetricStats, group_stats, ladder_stats, metric_stats, next_seeds


@pytest.mark.parametrize(
    ("values", "mean", "std"),
    [
        ([0.08], 0.08, None),  # one run: no spread to speak of
        ([0.1, 0.2, 0.3], 0.2, 0.1),  # squares 0.01 + 0 + 0.01 over n - 1 = 2
        ([1.0, 1.0], 1.0, 0.0),
        # The textbook set: population std 2, sample std sqrt(32 / 7).
        ([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 5.0, math.sqrt(32 / 7)),
        ([0.12, 0.1], 0.11, math.sqrt(0.0002)),
    ],
)
def test_metric_stats(values: list[float], mean: float, std: float | None) -> None:
    stats = metric_stats(values)
    assert stats.n == len(values)
    assert stats.mean == pytest.approx(mean)
    if std is None:
        assert stats.std is None
    else:
        assert stats.std == pytest.approx(std)


@pytest.mark.parametrize("values", [[], [0.1, math.nan], [math.inf]])
def test_metric_stats_refuses_no_values_or_non_finite_ones(values: list[float]) -> None:
    with pytest.raises(ValueError, match="values"):
        metric_stats(values)


def test_group_stats_per_key_over_the_runs_that_logged_it() -> None:
    summaries = [
        {"dev_error": 0.1, "train_error": 0.05},
        {"dev_error": 0.3},
        {"dev_error": math.nan, "dev_loss": math.inf},  # a diverged value does not count
    ]
    stats = group_stats(summaries)
    assert list(stats) == ["dev_error", "train_error"]
    assert stats["dev_error"].mean == pytest.approx(0.2)
    assert stats["dev_error"].std == pytest.approx(math.sqrt(0.02))
    assert stats["dev_error"].n == 2
    assert stats["train_error"] == MetricStats(mean=0.05, std=None, n=1)
    assert group_stats([]) == {}


@pytest.mark.parametrize(
    ("seed", "used", "count", "expected"),
    [
        (0, [], 3, [1, 2, 3]),
        (0, [1, 2], 3, [3, 4, 5]),  # seeds the group already ran are skipped
        (5, [6, 8], 2, [7, 9]),
        (7, [], 0, []),
        (MAX_SEED, [], 2, [0, 1]),  # past the largest seed, around to 0
        (MAX_SEED - 1, [0], 3, [MAX_SEED, 1, 2]),
    ],
)
def test_next_seeds(seed: int, used: list[int], count: int, expected: list[int]) -> None:
    assert next_seeds(seed, used, count) == expected


@pytest.mark.parametrize(
    ("seed", "count", "message"),
    [(0, -1, "count must be at least 0"), (-1, 1, "seed must be in"), (MAX_SEED + 1, 1, "seed must be in")],
)
def test_next_seeds_refuses_bad_input(seed: int, count: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_seeds(seed, [], count)


def test_ladder_stats_averages_each_runs_gaps_not_the_difference_of_means() -> None:
    # Three seeds of one config; the third run logged a train-dev error, so its variance is train-dev - train.
    ladders = [
        ErrorLadder(0.01, 0.02, None, 0.05, None),
        ErrorLadder(0.01, 0.03, None, 0.05, None),
        ErrorLadder(0.01, 0.01, 0.02, 0.06, None),
    ]
    stats = ladder_stats(ladders)
    assert list(stats) == [
        "train_error",
        "train_dev_error",
        "dev_error",
        "avoidable_bias",
        "variance",
        "data_mismatch",
    ]
    assert stats["variance"].mean == pytest.approx((0.03 + 0.02 + 0.01) / 3)
    assert stats["variance"].std == pytest.approx(0.01)
    assert stats["train_dev_error"] == MetricStats(mean=0.02, std=None, n=1)
    assert stats["avoidable_bias"].mean == pytest.approx(0.01)
    assert ladder_stats([]) == {}
