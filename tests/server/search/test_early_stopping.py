"""ASHA and the median rule on scripted learning curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.search import AshaRule, MedianRule, TrialCurve

# dev error per epoch (1-based) of five trials reporting in this order, epoch by epoch.
CURVES = {
    "a": [0.50, 0.40, 0.30, 0.25, 0.22, 0.20, 0.19, 0.18, 0.17],
    "b": [0.60, 0.55, 0.50, 0.48, 0.47, 0.46, 0.45, 0.44, 0.43],
    "c": [0.45, 0.35, 0.25, 0.20, 0.18, 0.16, 0.15, 0.14, 0.13],
    "d": [0.80, 0.79, 0.78, 0.77, 0.76, 0.75, 0.74, 0.73, 0.72],
    "e": [0.40, 0.30, 0.20, 0.15, 0.12, 0.10, 0.09, 0.08, 0.07],
}


def simulate_asha(rule: AshaRule, curves: dict[str, list[float]]) -> dict[str, tuple[int, str | None]]:
    """Run the trials one after another (the asynchronous worst case); returns (last epoch, reason)."""
    reached: dict[int, list[float]] = {}
    outcome = {}
    for name, curve in curves.items():
        outcome[name] = (len(curve), None)
        for epoch, value in enumerate(curve, start=1):
            reached.setdefault(epoch, []).append(value)
            decision = rule.decide(epoch, value, reached[epoch])
            if decision.stop:
                outcome[name] = (epoch, decision.reason)
                break
    return outcome


def test_rungs_are_geometric() -> None:
    assert AshaRule(min_epochs=1, eta=3).rungs(30) == [1, 3, 9, 27]
    assert AshaRule(min_epochs=2, eta=2).rungs(16) == [2, 4, 8]
    assert [AshaRule(min_epochs=1, eta=3).rung_index(e) for e in (1, 2, 3, 6, 9)] == [0, None, 1, None, 2]


def test_asha_promotes_the_top_third_and_stops_the_rest() -> None:
    outcome = simulate_asha(AshaRule(min_epochs=1, eta=3), CURVES)
    # a: first at rung 0 and rung 1, so promoted. b: worse than a at epoch 1 -> stopped.
    # c: best at epoch 1 -> promoted. d: worst -> stopped at epoch 1.
    # e: best at epochs 1, 3 and 9.
    assert {name: epoch for name, (epoch, _) in outcome.items()} == {"a": 9, "b": 1, "c": 9, "d": 1, "e": 9}
    assert outcome["b"][1] == (
        "stopped early by ASHA at epoch 1: dev error 0.6 was not in the top 1/3 of rung 0 "
        "(1 of 2 trials continue)"
    )


def test_asha_never_stops_between_rungs_or_on_nan() -> None:
    rule = AshaRule(min_epochs=1, eta=3)
    assert not rule.decide(2, 0.9, [0.1, 0.2, 0.9]).stop
    assert not rule.decide(3, math.nan, [0.1, 0.2]).stop


def test_asha_never_stops_a_trial_at_its_last_epoch() -> None:
    # 27 is rung 3 for eta=3, but a trial that trains for 27 epochs has finished there: stopping it would
    # mark a fully trained trial as "stopped early".
    rule = AshaRule(min_epochs=1, eta=3)
    rung_values = [0.1, 0.2, 0.3, 0.4]
    assert rule.decide(27, 0.4, rung_values).stop  # a trial that trains on to 30 epochs is stopped
    assert not rule.decide(27, 0.4, rung_values, max_epochs=27).stop
    assert rule.decide(9, 0.4, rung_values, max_epochs=27).stop


@pytest.mark.parametrize("max_epochs", [2, 9, 10, 27, 81])
def test_asha_stops_only_at_the_rungs_it_lists(max_epochs: int) -> None:
    rule = AshaRule(min_epochs=1, eta=3)
    stopping = [
        e for e in range(1, max_epochs + 1) if rule.decide(e, 1.0, [0.0, 1.0], max_epochs=max_epochs).stop
    ]
    assert stopping == rule.rungs(max_epochs)


def test_asha_keeps_top_n_over_eta() -> None:
    rule = AshaRule(min_epochs=1, eta=2)
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    kept = [v for v in values if not rule.decide(1, v, values).stop]
    assert kept == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(("kwargs", "message"), [({"eta": 1}, "eta=1"), ({"min_epochs": 0}, "min_epochs=0")])
def test_asha_refuses_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AshaRule(**kwargs)


def done(*values: float, status: str = "succeeded", stopped_early: bool = False) -> TrialCurve:
    """A trial's dev error at epochs 1, 2, ..., and how it stands."""
    return TrialCurve(dict(enumerate(values, start=1)), status, stopped_early)


def running(*values: float) -> TrialCurve:
    return done(*values, status="running")


def stopped(*values: float) -> TrialCurve:
    return done(*values, status="cancelled", stopped_early=True)


def current_value_rule(epoch: int, values: dict[int, float], others: list[TrialCurve]) -> bool:
    """The rule this one replaced: the current value against every other trial's value at that epoch."""
    at_epoch = [o.values[epoch] for o in others if epoch in o.values]
    return len(at_epoch) >= 2 and values[epoch] > float(np.median(at_epoch))


A = done(0.50, 0.20, 0.10)
B = done(0.50, 0.25, 0.20)


OLD_RULE_DISAGREES = True  # the current value against every other trial's value stopped the other way


@pytest.mark.parametrize(
    ("epoch", "values", "others", "stops", "old_rule_disagrees"),
    [
        # A noisy trial: 0.40 now, but its best (0.15) is no worse than the completed trials' median best
        # by epoch 3 (0.10 and 0.20 -> 0.15). The old rule stopped it on the spike.
        pytest.param(
            3, [0.50, 0.15, 0.40], [A, B], False, OLD_RULE_DISAGREES, id="noisy-spike-above-median-best-below"
        ),
        # Three running trials at 0.9 would lift the median to 0.9; only A and B ran to their end (0.225).
        pytest.param(
            2,
            [0.50, 0.30],
            [A, B, *[running(0.9, 0.9)] * 3],
            True,
            OLD_RULE_DISAGREES,
            id="running-not-counted",
        ),
        # Trials stopped early for being bad are not a yardstick either.
        pytest.param(
            2,
            [0.50, 0.30],
            [A, B, *[stopped(0.9, 0.9)] * 3],
            True,
            OLD_RULE_DISAGREES,
            id="stopped-early-not-counted",
        ),
        # Nor failed ones, however good their numbers looked: the median is 0.2 and 0.5 -> 0.35.
        pytest.param(
            2,
            [0.50, 0.30],
            [A, done(0.5, 0.5), *[done(0.1, 0.1, status="failed")] * 2],
            False,
            OLD_RULE_DISAGREES,
            id="failed-not-counted",
        ),
        # Completed trials count with their best by that epoch, not their value there (0.45 and 0.5).
        pytest.param(
            3,
            [0.50, 0.30, 0.30],
            [done(0.5, 0.2, 0.45), done(0.5, 0.25, 0.5)],
            True,
            OLD_RULE_DISAGREES,
            id="completed-best-so-far",
        ),
        # ... and only up to that epoch: they reach 0.05 later, not by epoch 2 (median 0.375).
        pytest.param(
            2,
            [0.50, 0.30],
            [done(0.5, 0.4, 0.05), done(0.5, 0.35, 0.05)],
            False,
            False,
            id="later-epochs-ignored",
        ),
        pytest.param(2, [0.50, 0.25], [A, B, done(0.5, 0.3)], False, False, id="at-the-median-continues"),
        pytest.param(1, [0.99], [A, B], False, False, id="warm-up"),
        pytest.param(2, [0.50, 0.90], [A, running(0.1, 0.1)], False, False, id="too-few-completed"),
        # A completed trial that never reported epoch 3 (it trained for 2) is not compared there.
        pytest.param(
            3, [0.5, 0.9, 0.9], [A, done(0.1, 0.1)], False, False, id="completed-without-that-epoch"
        ),
        pytest.param(3, [0.5, 0.9, 0.9], [A, B], True, False, id="worse-than-the-median"),
    ],
)
def test_median_rule(
    epoch: int, values: list[float], others: list[TrialCurve], stops: bool, old_rule_disagrees: bool
) -> None:
    curve = dict(enumerate(values, start=1))
    rule = MedianRule(n_warmup_epochs=1, n_min_trials=2)
    assert rule.decide(epoch, curve, others).stop is stops
    if old_rule_disagrees:
        assert current_value_rule(epoch, curve, others) is not stops


@pytest.mark.parametrize(
    ("values", "stops"),
    [
        ([0.60, 0.70], True),  # best 0.7 < median 0.8 of the completed trials' best accuracy
        ([0.80, 0.60], False),  # a dip now, but its best 0.8 is at the median
    ],
)
def test_median_rule_maximizes_accuracy(values: list[float], stops: bool) -> None:
    rule = MedianRule(n_warmup_epochs=1, n_min_trials=2, metric="dev_accuracy")
    others = [done(0.5, 0.7), done(0.8, 0.6), done(0.6, 0.9)]  # best by epoch 2: 0.7, 0.8 and 0.9
    assert rule.decide(2, dict(enumerate(values, start=1)), others).stop is stops


def test_median_rule_says_why() -> None:
    decision = MedianRule(n_warmup_epochs=2, n_min_trials=2).decide(3, {1: 0.5, 2: 0.35, 3: 0.4}, [A, B])
    assert decision.reason == (
        "stopped early by the median rule at epoch 3: its best dev error so far, 0.35, was worse than the "
        "median 0.15 of 2 completed trials' best by that epoch"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_warmup_epochs": -1}, "n_warmup_epochs=-1"), ({"n_min_trials": 0}, "n_min_trials=0")],
)
def test_median_rule_refuses_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MedianRule(**kwargs)
