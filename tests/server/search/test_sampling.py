"""Grid search covers the product; zooming shrinks ranges around the best trials on each one's scale."""

from __future__ import annotations

import math

import pytest

from server.search import (
    ChoiceDistribution,
    InvalidSearchSpace,
    LogUniformDistribution,
    OneMinusLogUniformDistribution,
    grid_points,
    grid_size,
    parse_space,
    suggest,
    zoom_space,
)


def test_grid_covers_the_product() -> None:
    space = parse_space(
        {
            "hparams.lr": {"log_uniform": [1e-3, 1e-1], "grid": 3},
            "hparams.optimizer": {"choice": ["sgd", "adam"]},
            "hparams.epochs": {"int_uniform": [1, 2]},
        }
    )
    points = grid_points(space)
    assert len(points) == grid_size(space) == 3 * 2 * 2
    combos = {(p["hparams.lr"], p["hparams.optimizer"], p["hparams.epochs"]) for p in points}
    assert len(combos) == 12
    assert sorted({p["hparams.lr"] for p in points}) == pytest.approx([1e-3, 1e-2, 1e-1])


def test_grid_on_log_scale_is_evenly_spaced_in_log() -> None:
    space = parse_space({"hparams.lr": {"log_uniform": [1e-4, 1.0], "grid": 5}})
    values = [p["hparams.lr"] for p in grid_points(space)]
    assert [round(math.log10(v), 9) for v in values] == [-4, -3, -2, -1, 0]


def test_grid_uses_explicit_values() -> None:
    space = parse_space({"hparams.l2": {"uniform": [0, 1], "values": [0, 0.1, 0.5]}})
    assert [p["hparams.l2"] for p in grid_points(space)] == [0, 0.1, 0.5]


def test_grid_needs_a_size_for_continuous_ranges() -> None:
    space = parse_space({"hparams.lr": {"log_uniform": [1e-3, 1e-1]}})
    with pytest.raises(InvalidSearchSpace) as excinfo:
        grid_points(space)
    assert excinfo.value.path == "hparams.lr"
    assert "'grid'" in excinfo.value.message


def test_grid_budget_below_the_grid_takes_a_subset() -> None:
    space = parse_space({"hparams.epochs": {"int_uniform": [1, 10]}})
    points = suggest(space, strategy="grid", n_trials=4, seed=0)
    assert len(points) == 4
    assert len({p["hparams.epochs"] for p in points}) == 4


def test_unknown_strategy_is_refused() -> None:
    space = parse_space({"hparams.epochs": {"int_uniform": [1, 10]}})
    with pytest.raises(ValueError, match="strategy="):
        suggest(space, strategy="bayes", n_trials=4, seed=0)


def test_zoom_shrinks_log_range_around_the_best_on_the_log_scale() -> None:
    space = parse_space(
        {"hparams.lr": {"log_uniform": [1e-5, 1.0]}, "hparams.optimizer": {"choice": ["sgd", "adam"]}}
    )
    trials = [
        ({"hparams.lr": 1e-3, "hparams.optimizer": "adam"}, 0.05),
        ({"hparams.lr": 3e-3, "hparams.optimizer": "adam"}, 0.06),
        ({"hparams.lr": 1e-2, "hparams.optimizer": "adam"}, 0.07),
        ({"hparams.lr": 0.5, "hparams.optimizer": "sgd"}, 0.60),
        ({"hparams.lr": 1e-5, "hparams.optimizer": "sgd"}, 0.80),
    ]
    zoomed = zoom_space(space, trials, top_k=3).space.distributions
    lr = zoomed["hparams.lr"]
    assert isinstance(lr, LogUniformDistribution)
    assert 1e-5 < lr.low <= 1e-3 and 1e-2 <= lr.high < 0.5
    # Narrower by decades, not by absolute width.
    assert math.log10(lr.high / lr.low) < 0.6 * math.log10(1.0 / 1e-5)
    assert zoomed["hparams.optimizer"] == ChoiceDistribution(("adam",))


def test_zoom_of_betas_works_on_one_minus_beta() -> None:
    space = parse_space({"hparams.beta1": {"one_minus_log_uniform": [0.9, 0.9999]}})
    trials = [({"hparams.beta1": 0.999}, 0.1), ({"hparams.beta1": 0.9}, 0.5), ({"hparams.beta1": 0.95}, 0.4)]
    beta = zoom_space(space, trials, top_k=1).space.distributions["hparams.beta1"]
    assert isinstance(beta, OneMinusLogUniformDistribution)
    assert 0.9 < beta.low < 0.999 < beta.high <= 0.9999


def test_zoom_never_leaves_the_original_range() -> None:
    space = parse_space({"hparams.epochs": {"int_uniform": [1, 10]}})
    zoomed = zoom_space(space, [({"hparams.epochs": 10}, 0.1)], top_k=1).space.distributions["hparams.epochs"]
    assert zoomed.low >= 1 and zoomed.high == 10 and zoomed.low > 1


def test_zoom_needs_a_finished_trial() -> None:
    space = parse_space({"hparams.epochs": {"int_uniform": [1, 10]}})
    with pytest.raises(ValueError, match="at least one finished trial"):
        zoom_space(space, [({"hparams.epochs": 3}, math.nan)])
