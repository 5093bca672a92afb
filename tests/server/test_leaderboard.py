"""The leaderboard maths: rank by the optimizing metric among runs meeting every satisficing constraint."""

from __future__ import annotations

import math

import pytest

from server.leaderboard import Constraint, Standing, constraint_from_dict, describe, rank_runs

LATENCY = Constraint("latency_ms_b1", max=10)
PARAMS = Constraint("param_count", max=1_000_000)
ACCURACY = Constraint("accuracy", min=0.9)


@pytest.mark.parametrize(
    ("runs", "constraints", "expected"),
    [
        # no constraints: plain ranking, lowest error first
        (
            [(1, {"dev_error": 0.2}), (2, {"dev_error": 0.1}), (3, {"dev_error": 0.15})],
            [],
            [(2, 1, ()), (3, 2, ()), (1, 3, ())],
        ),
        # the best run breaks latency: it is listed after the ranked ones, with the reason
        (
            [
                (1, {"dev_error": 0.05, "latency_ms_b1": 12.5, "param_count": 5e5}),
                (2, {"dev_error": 0.08, "latency_ms_b1": 4, "param_count": 9e5}),
                (3, {"dev_error": 0.07, "latency_ms_b1": 9, "param_count": 2e6}),
            ],
            [LATENCY, PARAMS],
            [(2, 1, ()), (1, None, ("latency_ms_b1 12.5 > 10",)), (3, None, ("param_count 2e+06 > 1e+06",))],
        ),
        # a bound is inclusive; a run breaking two constraints names both
        (
            [
                (1, {"dev_error": 0.1, "latency_ms_b1": 10, "param_count": 1e6}),
                (2, {"dev_error": 0.05, "latency_ms_b1": 11, "param_count": 3e6}),
            ],
            [LATENCY, PARAMS],
            [(1, 1, ()), (2, None, ("latency_ms_b1 11 > 10", "param_count 3e+06 > 1e+06"))],
        ),
        # a constraint whose metric was never logged is not met
        (
            [(1, {"dev_error": 0.1}), (2, {"dev_error": 0.2, "latency_ms_b1": 3})],
            [LATENCY],
            [(2, 1, ()), (1, None, ("latency_ms_b1 was not logged",))],
        ),
        # a min constraint; a run without the optimizing metric comes last
        (
            [
                (1, {"dev_error": 0.1, "accuracy": 0.85}),
                (2, {"accuracy": 0.95}),
                (3, {"dev_error": 0.3, "accuracy": 0.9}),
            ],
            [ACCURACY],
            [(3, 1, ()), (1, None, ("accuracy 0.85 < 0.9",)), (2, None, ("dev_error was not logged",))],
        ),
        # ties keep the lower run id first; NaN counts as not logged
        (
            [(5, {"dev_error": 0.1}), (4, {"dev_error": 0.1}), (6, {"dev_error": math.nan})],
            [],
            [(4, 1, ()), (5, 2, ()), (6, None, ("dev_error was not logged",))],
        ),
        ([], [LATENCY], []),
    ],
)
def test_rank_runs(runs: list, constraints: list[Constraint], expected: list) -> None:
    standings = rank_runs(runs, metric="dev_error", constraints=constraints)
    assert [(s.run_id, s.rank, s.broken) for s in standings] == expected


def test_rank_runs_maximizes_accuracy_like_metrics() -> None:
    runs = [(1, {"dev_accuracy": 0.8}), (2, {"dev_accuracy": 0.9})]
    standings = rank_runs(runs, metric="dev_accuracy")
    assert standings == (Standing(2, 0.9, 1, ()), Standing(1, 0.8, 2, ()))
    assert standings[0].eligible and not Standing(3, None, None, ("x",)).eligible
    assert [s.run_id for s in rank_runs(runs, metric="dev_accuracy", maximize=False)] == [1, 2]


def test_constraint_from_dict_and_describe() -> None:
    assert (
        describe(constraint_from_dict({"metric": "param_count", "max": 1000000})) == "param_count ≤ 1,000,000"
    )
    assert describe(constraint_from_dict({"metric": "accuracy", "min": 0.9})) == "accuracy ≥ 0.9"
    with pytest.raises(ValueError, match="exactly one of max or min"):
        constraint_from_dict({"metric": "x"})


def test_rank_runs_needs_a_metric() -> None:
    with pytest.raises(ValueError, match="metric must be a non-empty name"):
        rank_runs([], metric="")
