"""The rollups and summaries a batch of new points adds, as the server computes them for both databases,
against a recount done the slow, obvious way."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from server.services.metrics import ROLLUP_WIDTHS
from server.services.metrics.rollups import latest, rollups
from server.services.metrics.series import ROLLUP_OVERSAMPLING, choose_width


def recount(points: list[tuple[str, int, float]], widths: tuple[int, ...]) -> set[tuple]:
    groups: dict[tuple[str, int, int], list[tuple[int, float]]] = defaultdict(list)
    for key, step, value in points:
        for width in widths:
            groups[key, width, step // width].append((step, value))
    expected = set()
    for (key, width, bucket), members in groups.items():
        low = min(value for _, value in members)
        high = max(value for _, value in members)
        first_low = min(step for step, value in members if value == low)
        last_high = max(step for step, value in members if value == high)
        expected.add((key, width, bucket, len(members), first_low, low, last_high, high))
    return expected


@pytest.mark.parametrize("seed", range(5))
def test_rollups_equal_a_recount_with_ties_and_unordered_steps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    steps = rng.choice(3_000_000, size=2000, replace=False)
    # Values from a handful, so that most buckets hold a tied minimum or maximum at several steps.
    points = [
        (key, int(step), float(rng.integers(0, 4)))
        for key in ("loss", "NULL", "acc")
        for step in rng.permutation(steps)
    ]
    assert set(rollups(points, ROLLUP_WIDTHS)) == recount(points, ROLLUP_WIDTHS)


def test_a_tie_keeps_the_first_step_of_the_minimum_and_the_last_of_the_maximum() -> None:
    points = [("loss", 70, 1.0), ("loss", 3, 0.0), ("loss", 65, 0.0), ("loss", 10, 1.0), ("loss", 1, 0.5)]
    by_width = {row[1]: row for row in rollups(points, (64, 128))}
    # Width 64: steps 1, 3, 10 in bucket 0 and 65, 70 in bucket 1; width 128 holds all five.
    assert by_width[128] == ("loss", 128, 0, 5, 3, 0.0, 70, 1.0)
    assert sorted(rollups(points, (64,))) == [
        ("loss", 64, 0, 3, 3, 0.0, 10, 1.0),
        ("loss", 64, 1, 2, 65, 0.0, 70, 1.0),
    ]


def test_widths_must_be_multiples_of_the_finest() -> None:
    with pytest.raises(ValueError, match="multiple of the finest"):
        rollups([("loss", 1, 1.0)], (64, 100))


def test_latest_is_each_keys_highest_step_whatever_the_order() -> None:
    points = [("loss", 5, 0.5), ("acc", 2, 0.9), ("loss", 9, 0.1), ("loss", 7, 0.3), ("acc", 1, 0.8)]
    assert latest(points) == {"loss": (9, 0.1), "acc": (2, 0.9)}
    assert rollups([], ROLLUP_WIDTHS) == [] and latest([]) == {}


def test_widths_that_are_not_multiples_of_the_one_before_merge_from_the_finest() -> None:
    rng = np.random.default_rng(7)
    points = [
        ("loss", int(step), float(rng.integers(0, 5))) for step in rng.choice(100_000, 3000, replace=False)
    ]
    widths = (16, 48, 64, 256, 768)  # 64 is no multiple of 48, 768 none of 256's... but of 16's
    assert set(rollups(points, widths)) == recount(points, widths)


@pytest.mark.parametrize("max_points", [4, 100, 500, 2000])
def test_every_length_reads_between_a_quarter_and_all_of_its_budget_of_buckets(max_points: int) -> None:
    """Widths 4x apart: a long series reads no more than ROLLUP_OVERSAMPLING buckets per point pair asked
    for, and never fewer than a quarter of that (so its chart keeps at least a quarter of its resolution)."""
    most = ROLLUP_OVERSAMPLING * max(1, (max_points - 2) // 2)
    for exponent in np.arange(0, 7.25, 0.25):  # 1 to 10,000,000 points
        for stride in (1, 7):
            count = int(10**exponent)
            span = (count - 1) * stride
            if count <= max_points:
                continue  # read from its points
            width = choose_width(count, span, max_points, ROLLUP_WIDTHS, ROLLUP_OVERSAMPLING)
            buckets = min(count, span // width + 1)
            assert buckets <= most
            if width > ROLLUP_WIDTHS[0]:
                assert buckets * 4 >= most - 4, (count, stride, width, buckets)
