"""Distributions: parsing, ranges, and sampling uniformly on each one's own scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from server.search import InvalidSearchSpace, parse_distribution, parse_space, sample_random

N = 4000


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        ({"uniform": [-1.0, 2.0]}, -1.0, 2.0),
        ({"log_uniform": [1e-5, 1e-1]}, 1e-5, 1e-1),
        ({"int_uniform": [16, 256]}, 16, 256),
        ({"one_minus_log_uniform": [0.9, 0.9999]}, 0.9, 0.9999),
    ],
)
def test_samples_stay_in_range(spec: dict, low: float, high: float) -> None:
    distribution = parse_distribution("hparams.x", spec)
    rng = np.random.default_rng(0)
    values = [distribution.sample(rng) for _ in range(N)]
    assert min(values) >= low
    assert max(values) <= high
    assert all(distribution.contains(v) for v in values)


def test_int_uniform_gives_ints_and_reaches_both_ends() -> None:
    distribution = parse_distribution("hparams.batch_size", {"int_uniform": [1, 4]})
    rng = np.random.default_rng(0)
    values = [distribution.sample(rng) for _ in range(400)]
    assert all(isinstance(v, int) for v in values)
    assert set(values) == {1, 2, 3, 4}


def test_choice_samples_every_option() -> None:
    distribution = parse_distribution("model.hidden", {"choice": [[32], [64, 64], []]})
    rng = np.random.default_rng(0)
    values = [distribution.sample(rng) for _ in range(300)]
    assert {tuple(v) for v in values} == {(32,), (64, 64), ()}


def test_log_uniform_is_uniform_in_log_space() -> None:
    distribution = parse_distribution("hparams.lr", {"log_uniform": [1e-4, 1.0]})
    rng = np.random.default_rng(42)
    logs = np.log10([distribution.sample(rng) for _ in range(N)])
    # Kolmogorov-Smirnov against U(-4, 0): uniform on the log scale ...
    assert stats.kstest(logs, stats.uniform(loc=-4, scale=4).cdf).pvalue > 0.01
    # ... and clearly not uniform on the linear scale (most draws are far below the midpoint 0.5).
    values = 10**logs
    assert stats.kstest(values, stats.uniform(loc=1e-4, scale=1 - 1e-4).cdf).pvalue < 1e-6
    assert np.mean(values < 0.01) == pytest.approx(0.5, abs=0.03)


def test_one_minus_log_uniform_is_uniform_in_log_of_one_minus_beta() -> None:
    distribution = parse_distribution("hparams.beta1", {"one_minus_log_uniform": [0.9, 0.999]})
    rng = np.random.default_rng(7)
    betas = np.array([distribution.sample(rng) for _ in range(N)])
    logs = np.log10(1 - betas)  # in [-3, -1]
    assert stats.kstest(logs, stats.uniform(loc=-3, scale=2).cdf).pvalue > 0.01
    # As many draws in 0.99 ... 0.999 as in 0.9 ... 0.99.
    assert np.mean(betas > 0.99) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"uniform": [2, 1]}, "low <= high"),
        ({"log_uniform": [0, 1]}, "positive bounds"),
        ({"log_uniform": [-1, 1]}, "positive bounds"),
        ({"one_minus_log_uniform": [0.9, 1.0]}, "in (0, 1)"),
        ({"one_minus_log_uniform": [0.0, 0.9]}, "in (0, 1)"),
        ({"choice": []}, "non-empty list"),
        ({"int_uniform": [1.5, 3]}, "integer bounds"),
        ({"uniform": [0, math.inf]}, "finite numbers"),
        ({"uniform": [0]}, "[low, high]"),
        ({"gaussian": [0, 1]}, "unknown key 'gaussian'"),
        ({"uniform": [0, 1], "choice": [1]}, "exactly one"),
        (0.1, "must be an object"),
    ],
)
def test_invalid_distributions_name_the_path(spec: object, message: str) -> None:
    with pytest.raises(InvalidSearchSpace) as excinfo:
        parse_distribution("hparams.lr", spec)
    assert excinfo.value.path == "hparams.lr"
    assert message in excinfo.value.message
    assert str(excinfo.value).startswith("hparams.lr: ")


@pytest.mark.parametrize("path", ["lr", "optim.lr", "hparams.", ""])
def test_paths_must_start_with_model_or_hparams(path: str) -> None:
    with pytest.raises(InvalidSearchSpace, match="config path"):
        parse_space({path: {"uniform": [0, 1]}})


def test_empty_space_is_refused() -> None:
    with pytest.raises(InvalidSearchSpace, match="at least one"):
        parse_space({})


def test_grid_values_must_lie_in_the_range() -> None:
    with pytest.raises(InvalidSearchSpace, match="every value must lie"):
        parse_space({"hparams.lr": {"log_uniform": [1e-3, 1e-1], "values": [0.5]}})


def test_space_round_trips_through_json() -> None:
    raw = {
        "hparams.lr": {"log_uniform": [1e-4, 0.1], "grid": 3},
        "hparams.beta1": {"one_minus_log_uniform": [0.9, 0.999]},
        "model.hidden": {"choice": [[32], [64]]},
        "hparams.batch_size": {"int_uniform": [16, 64], "values": [16, 32]},
    }
    assert parse_space(raw).to_json() == raw


def test_same_seed_same_samples() -> None:
    space = parse_space({"hparams.lr": {"log_uniform": [1e-4, 0.1]}, "hparams.l2": {"uniform": [0, 1]}})
    assert sample_random(space, 5, seed=3) == sample_random(space, 5, seed=3)
    assert sample_random(space, 5, seed=3) != sample_random(space, 5, seed=4)
