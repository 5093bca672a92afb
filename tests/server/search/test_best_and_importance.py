"""The best trial under satisficing constraints; the running best; parameter importance."""

from __future__ import annotations

import numpy as np
import pytest

from server.search import (
    Constraint,
    TrialResult,
    best_so_far,
    best_trial,
    feasible_trials,
    is_maximized,
    parameter_importance,
    parse_space,
    sample_random,
)

TRIALS = [
    TrialResult(1, {"dev_error": 0.05, "latency_ms_b1": 40.0}),  # best error, too slow
    TrialResult(2, {"dev_error": 0.08, "latency_ms_b1": 5.0}),
    TrialResult(3, {"dev_error": 0.07, "latency_ms_b1": 9.0}),  # best of the fast ones
    TrialResult(4, {"dev_error": 0.06}),  # latency never logged
]


def test_best_trial_respects_satisficing_constraints() -> None:
    best = best_trial(TRIALS, metric="dev_error", constraints=[Constraint("latency_ms_b1", max=10.0)])
    assert best.best_id == 3
    assert best.best_value == 0.07
    assert best.excluded == {1: "latency_ms_b1 40 > 10", 4: "latency_ms_b1 was not logged"}


def test_best_trial_without_constraints_is_the_lowest_error() -> None:
    assert best_trial(TRIALS, metric="dev_error", constraints=[]).best_id == 1


@pytest.mark.parametrize(
    ("constraints", "feasible"),
    [
        ([Constraint("latency_ms_b1", max=10.0)], [2, 3]),  # 1 too slow, 4 never logged latency
        ([Constraint("latency_ms_b1", min=8.0)], [1, 3]),
        ([], [1, 2, 3, 4]),
    ],
)
def test_feasible_trials_are_the_ones_best_trial_ranks(
    constraints: list[Constraint], feasible: list[int]
) -> None:
    trials = [*TRIALS, TrialResult(5, {"latency_ms_b1": 1.0})]  # dev_error never logged: never feasible
    assert [
        t.trial_id for t in feasible_trials(trials, metric="dev_error", constraints=constraints)
    ] == feasible
    best = best_trial(trials, metric="dev_error", constraints=constraints)
    assert sorted(set(range(1, 6)) - set(best.excluded)) == feasible


def test_no_trial_meets_the_constraints() -> None:
    best = best_trial(TRIALS, metric="dev_error", constraints=[Constraint("latency_ms_b1", max=1.0)])
    assert best.best_id is None and set(best.excluded) == {1, 2, 3, 4}


def test_min_constraints_and_maximised_metrics() -> None:
    trials = [
        TrialResult(1, {"dev_accuracy": 0.9, "recall": 0.5}),
        TrialResult(2, {"dev_accuracy": 0.8, "recall": 0.9}),
    ]
    assert is_maximized("dev_accuracy") and not is_maximized("dev_error")
    assert best_trial(trials, metric="dev_accuracy", constraints=[]).best_id == 1
    assert best_trial(trials, metric="dev_accuracy", constraints=[Constraint("recall", min=0.8)]).best_id == 2


def test_constraint_needs_one_bound() -> None:
    with pytest.raises(ValueError, match="exactly one of max or min"):
        Constraint("latency")


def test_best_so_far() -> None:
    assert best_so_far([None, 0.5, 0.7, 0.3, float("nan"), 0.4]) == [None, 0.5, 0.5, 0.3, 0.3, 0.3]


def test_importance_finds_the_parameter_that_matters() -> None:
    space = parse_space({"hparams.lr": {"log_uniform": [1e-4, 1.0]}, "hparams.l2": {"uniform": [0, 1]}})
    params = sample_random(space, 40, seed=0)
    rng = np.random.default_rng(0)
    # The objective depends on log(lr) only (a bowl around 1e-2), plus a little noise.
    trials = [(p, (np.log10(p["hparams.lr"]) + 2) ** 2 + rng.normal(0, 0.01)) for p in params]
    ranking = parameter_importance(space.distributions, trials)
    assert [path for path, _ in ranking] == ["hparams.lr", "hparams.l2"]
    assert ranking[0][1] > 0.8
    assert sum(value for _, value in ranking) == pytest.approx(1.0)


def test_importance_needs_a_few_trials() -> None:
    space = parse_space({"hparams.lr": {"log_uniform": [1e-4, 1.0]}})
    assert parameter_importance(space.distributions, [({"hparams.lr": 0.1}, 0.2)]) == []


def test_best_trial_says_which_trials_are_within_noise_of_it() -> None:
    # On 270 dev examples, 3.3 % and 4.1 % are 2 examples apart: a tie. 8.9 % is not.
    trials = [
        TrialResult(1, {"dev_error": 0.041, "dev_examples": 270}),
        TrialResult(2, {"dev_error": 0.033, "dev_examples": 270}),
        TrialResult(3, {"dev_error": 0.089, "dev_examples": 270}),
        TrialResult(4, {"dev_error": 0.035}),  # no size: cannot be compared, so not called tied
    ]
    best = best_trial(trials, metric="dev_error", constraints=[])
    assert best.best_id == 2
    assert best.tied == (1,)
    assert best.margin == pytest.approx(0.0245, abs=0.002)


def test_best_trial_on_a_huge_dev_set_has_no_tie() -> None:
    trials = [
        TrialResult(i, {"dev_error": e, "dev_examples": 1_000_000}) for i, e in ((1, 0.041), (2, 0.033))
    ]
    assert best_trial(trials, metric="dev_error", constraints=[]).tied == ()


def test_best_trial_without_sizes_says_nothing_of_its_noise() -> None:
    best = best_trial(TRIALS, metric="dev_error", constraints=[])
    assert (best.margin, best.tied) == (None, ())
