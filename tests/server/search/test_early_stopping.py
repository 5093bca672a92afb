"""ASHA and the median rule on scripted learning curves."""

from __future__ import annotations

import math

import pytest

from server.search import AshaRule, MedianRule

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


def test_median_rule_stops_worse_than_median_after_warmup() -> None:
    rule = MedianRule(n_warmup_epochs=2, n_min_trials=3)
    others = [0.2, 0.3, 0.4]
    assert not rule.decide(2, 0.9, others).stop  # still warming up
    assert not rule.decide(3, 0.3, others).stop  # at the median
    decision = rule.decide(3, 0.35, others)
    assert decision.stop
    assert decision.reason == (
        "stopped early by the median rule at epoch 3: dev error 0.35 was worse than the median 0.3 "
        "of 3 other trials"
    )


def test_median_rule_waits_for_enough_trials() -> None:
    assert not MedianRule(n_warmup_epochs=0, n_min_trials=3).decide(5, 0.9, [0.1, 0.2]).stop
