"""At most four recommendations, ranked by the gap they address, none said twice, no knob turned both ways."""

from __future__ import annotations

import pytest

from server.diagnosis import MAX_RECOMMENDATIONS, ErrorLadder, SplitSizes, diagnose

# Every knob each gap can turn is open: the old diagnosis gave this run 12 recommendations.
EVERY_KNOB = {
    "model": {"name": "mlp", "hidden": [64]},
    "hparams": {"epochs": 20, "optimizer": "sgd", "l2": 0.01, "keep_prob": 0.9, "train_fraction": 0.25,
                "augment": False, "early_stopping_patience": None},
}  # fmt: skip
LADDERS = [
    ErrorLadder(0.01, 0.08, 0.12, 0.20, 0.30),
    ErrorLadder(0.01, 0.03, 0.04, 0.10, 0.101),
    ErrorLadder(None, 0.2, None, 0.3, None),
    ErrorLadder(0.0, 0.05, 0.06, 0.07, 0.08),
]


@pytest.mark.parametrize("ladder", LADDERS)
def test_at_most_four_and_none_twice(ladder: ErrorLadder) -> None:
    recommendations = diagnose(ladder, EVERY_KNOB, dataset_kind="image").recommendations
    assert 1 <= len(recommendations) <= MAX_RECOMMENDATIONS
    texts = [r.text for r in recommendations]
    paths = [r.path for r in recommendations if r.path is not None]
    assert len(texts) == len(set(texts))
    assert len(paths) == len(set(paths))


def test_ranked_by_the_size_of_the_gap_they_address() -> None:
    diagnosis = diagnose(ErrorLadder(0.01, 0.08, 0.12, 0.20, 0.30), EVERY_KNOB, dataset_kind="image")
    order = ["dev_overfitting", "data_mismatch", "avoidable_bias", "variance"]  # 10, 8, 7, 4 points
    gaps = [r.gap for r in diagnosis.recommendations]
    assert gaps == sorted(gaps, key=order.index)
    assert gaps[0] == "dev_overfitting"


def test_knob_actions_come_before_text_advice_within_a_gap() -> None:
    diagnosis = diagnose(ErrorLadder(0.02, 0.02, None, 0.12, None), EVERY_KNOB, dataset_kind="image")
    assert all(r.gap == "variance" for r in diagnosis.recommendations)
    assert len(diagnosis.recommendations) == 4
    assert all(r.path is not None for r in diagnosis.recommendations)  # each has its "Try next" button


def test_a_smaller_gap_cannot_undo_a_larger_gaps_knob() -> None:
    # Bias says "halve L2" and variance says "strengthen L2": only the bigger gap's direction is given.
    config = {"model": {"name": "resnet"}, "hparams": {"l2": 0.01, "optimizer": "adam", "keep_prob": 1.0}}
    diagnosis = diagnose(ErrorLadder(0.0, 0.10, None, 0.16, None), config)
    l2 = [r for r in diagnosis.recommendations if r.path == "hparams.l2"]
    assert [r.gap for r in l2] == ["avoidable_bias"]


def test_noise_gaps_give_no_advice() -> None:
    sizes = SplitSizes(train=1078, dev=270, test=270)
    diagnosis = diagnose(ErrorLadder(None, 0.0, None, 0.04, 0.048), EVERY_KNOB, sizes=sizes)
    assert {r.gap for r in diagnosis.recommendations} == {"variance"}


def test_a_run_that_stopped_early_is_not_told_to_train_longer() -> None:
    config = {"model": {"name": "mlp", "hidden": [128]}, "hparams": {"epochs": 60, "optimizer": "adam"}}
    ladder = ErrorLadder(None, 0.02, None, 0.007, None)
    assert "hparams.epochs" in {r.path for r in diagnose(ladder, config).recommendations}
    stopped = diagnose(ladder, config, stopped_early=True, best_epoch=14, step=14)
    assert "hparams.epochs" not in {r.path for r in stopped.recommendations}
    assert stopped.recommendations[0].path == "model.hidden"
