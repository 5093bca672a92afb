"""A gap must stand out of the sampling noise of its splits before the diagnosis calls it a problem."""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.diagnosis import ErrorLadder, SplitSizes, diagnose, gap_standard_error
from server.diagnosis._ladder import rate_variance

# The built-in digits splits: 1,078 train, 180 train-dev, 270 dev and 270 test examples.
DIGITS = SplitSizes(train=1078, train_dev=None, dev=270, test=270)


def test_rate_variance_is_never_zero_for_a_perfect_score() -> None:
    # 0 errors in 270 is compatible with a true error near 1 %: the band must not collapse to 0.
    assert rate_variance(0.0, 270) > 0
    assert rate_variance(0.5, 10_000) == pytest.approx(0.25 / 10_004, rel=1e-3)


def test_gap_standard_error_adds_the_two_rungs_variances() -> None:
    ladder = ErrorLadder(None, 0.01, None, 0.04, None)
    sizes = SplitSizes(train=1000, dev=270)
    expected = math.sqrt(rate_variance(0.01, 1000) + rate_variance(0.04, 270))
    assert gap_standard_error("variance", ladder, sizes) == pytest.approx(expected)


def test_human_level_adds_no_noise_and_unknown_sizes_give_none() -> None:
    ladder = ErrorLadder(0.02, 0.05, None, 0.06, None)
    assert gap_standard_error("avoidable_bias", ladder, SplitSizes(train=400)) == pytest.approx(
        math.sqrt(rate_variance(0.05, 400))
    )
    assert gap_standard_error("variance", ladder, SplitSizes(train=400)) is None
    assert gap_standard_error("dev_overfitting", ladder, SplitSizes(dev=1, test=1)) is None  # no test error


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "270"])
def test_split_sizes_must_be_positive_integers(bad: object) -> None:
    with pytest.raises(ValueError, match=r"dev must be a positive integer or None, but got dev="):
        SplitSizes(dev=bad)  # type: ignore[arg-type]


def test_first_digits_run_is_not_told_to_get_a_bigger_dev_set() -> None:
    # Test error 0.7 points above dev error is two examples of 270: noise, not an overfit dev set.
    diagnosis = diagnose(ErrorLadder(None, 0.009, None, 0.037, 0.044), sizes=DIGITS)
    assert diagnosis.significant["dev_overfitting"] is False
    assert diagnosis.readings["dev_overfitting"].startswith("within noise (± 3.")
    assert diagnosis.readings["dev_overfitting"].endswith("on 270 test and 270 dev examples)")
    assert all(r.gap != "dev_overfitting" for r in diagnosis.recommendations)
    assert all("bigger dev set" not in r.text for r in diagnosis.recommendations)


def test_every_gap_within_noise_reads_none_and_says_so() -> None:
    diagnosis = diagnose(ErrorLadder(0.015, 0.02, None, 0.026, 0.03), sizes=DIGITS)
    assert diagnosis.primary == "none"
    assert diagnosis.significant == {
        "avoidable_bias": False, "variance": False, "data_mismatch": None, "dev_overfitting": False
    }  # fmt: skip
    assert diagnosis.summary.startswith("Every gap is within noise: the largest, variance at 0.6 points")
    assert diagnosis.recommendations == ()


def test_the_same_gaps_on_a_million_examples_are_real() -> None:
    million = SplitSizes(train=1_000_000, train_dev=1_000_000, dev=1_000_000, test=1_000_000)
    diagnosis = diagnose(ErrorLadder(0.015, 0.02, None, 0.026, 0.03), sizes=million)
    assert diagnosis.significant == {
        "avoidable_bias": True, "variance": True, "data_mismatch": None, "dev_overfitting": True
    }  # fmt: skip
    assert diagnosis.primary == "variance"


def test_the_largest_real_gap_wins_over_a_larger_noisy_one() -> None:
    # Dev overfitting is 2.2 points but on 100 test examples; variance is 1.5 points on 50,000 examples.
    sizes = SplitSizes(train=50_000, train_dev=50_000, dev=100, test=100)
    diagnosis = diagnose(ErrorLadder(0.01, 0.01, 0.025, 0.03, 0.052), sizes=sizes)
    assert diagnosis.significant["dev_overfitting"] is False
    assert diagnosis.primary == "variance"


def test_course_example_still_reads_bias_with_large_splits() -> None:
    sizes = SplitSizes(train=100_000, dev=100_000)
    diagnosis = diagnose(ErrorLadder(0.005, 0.007, None, 0.008, None), sizes=sizes)
    assert diagnosis.primary == "avoidable_bias"
    assert diagnosis.significant["avoidable_bias"] is True


def test_without_sizes_the_uncertainty_is_unknown_and_said() -> None:
    diagnosis = diagnose(ErrorLadder(0.01, 0.02, None, 0.025, None))
    assert diagnosis.standard_errors["variance"] is None and diagnosis.significant["variance"] is None
    assert diagnosis.readings["variance"] == "uncertainty unknown (log the split sizes)"
    assert any("log train_examples and dev_examples" in note for note in diagnosis.notes)


def test_false_alarms_stay_rare_when_two_splits_share_one_true_error() -> None:
    """Simulated runs with no real gap: the diagnosis calls a gap real in about 2.5 % of them (one-sided)."""
    rng = np.random.default_rng(7)
    n_train, n_dev, true_error = 1078, 270, 0.04
    alarms = 0
    for _ in range(2000):
        train = rng.binomial(n_train, true_error) / n_train
        dev = rng.binomial(n_dev, true_error) / n_dev
        diagnosis = diagnose(ErrorLadder(0.04, min(train, 0.04), None, dev, None), sizes=DIGITS)
        alarms += diagnosis.significant["variance"] is True
    assert alarms / 2000 < 0.05


def test_a_real_gap_of_five_points_is_found_most_of_the_time() -> None:
    rng = np.random.default_rng(11)
    found = 0
    for _ in range(500):
        train = rng.binomial(1078, 0.01) / 1078
        dev = rng.binomial(270, 0.06) / 270
        found += diagnose(ErrorLadder(None, train, None, dev, None), sizes=DIGITS).primary == "variance"
    assert found / 500 > 0.85
