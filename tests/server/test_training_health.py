"""Runs that did not learn, learn slowly or are unstable get the learning rate first, not "train longer"."""

from __future__ import annotations

import math

import pytest

from server.diagnosis import ErrorLadder, SplitSizes, TrainingCurves, assess_training, diagnose

LN10 = math.log(10)
SGD_LR10 = {
    "model": {"name": "mlp", "hidden": [64]},
    "hparams": {"lr": 10.0, "optimizer": "sgd", "epochs": 10},
}


@pytest.mark.parametrize(
    ("curves", "status"),
    [
        # lr = 10 with plain SGD: 90 % train error on ten classes, the loss stuck near ln 10.
        (TrainingCurves([0.90, 0.89, 0.91, 0.90, 0.90], [0.9] * 5,
                        [LN10 + 0.2, LN10, LN10 + 0.1, LN10, LN10], 10, train_examples=1078), "not_learning"),
        # At chance, but the loss falls every epoch: the learning rate is too small.
        (TrainingCurves([0.90, 0.90, 0.89], [0.9, 0.9, 0.9], [2.302, 2.290, 2.270], 10), "learning_slowly"),
        # A model that learns.
        (TrainingCurves([0.3, 0.1, 0.05, 0.03], [0.3, 0.12, 0.07, 0.05], [1.5, 0.6, 0.3, 0.2], 10), "ok"),
        # Overfitting lifts dev error while train error keeps falling: variance, not instability.
        (TrainingCurves([0.1, 0.05, 0.02, 0.01, 0.005], [0.05, 0.04, 0.045, 0.05, 0.06],
                        [0.5, 0.3, 0.2, 0.1, 0.05], 10, dev_examples=270), "ok"),
        # The ResNet of the issue: dev error 1.1 % at its best, 10 % at the end, up and down on the way.
        (TrainingCurves([0.05, 0.01, 0.004, 0.03, 0.006, 0.09], [0.05, 0.02, 0.011, 0.04, 0.015, 0.10],
                        [0.5, 0.1, 0.04, 0.2, 0.05, 0.6], 10, 50_000, 10_000), "unstable"),
        # The loss blew up but stayed finite.
        (TrainingCurves([], [], [1.0, 0.5, 0.3, 0.9, 2.5]), "unstable"),
        # Wine: 0 dev errors at best, 2 of 36 at the end is noise.
        (TrainingCurves([0.1, 0.02, 0.0, 0.0], [0.1, 0.0, 0.028, 0.056], [0.9, 0.3, 0.1, 0.05], 3, 107, 36),
         "ok"),
        # A constant predictor on a two-class set with 37 % of one class is below 50 % "chance" yet learned
        # nothing; its predictions give it away.
        (TrainingCurves([0.37, 0.37, 0.37], [0.37] * 3, [0.66, 0.66, 0.66], 2, top_predicted_share=1.0),
         "not_learning"),
        (TrainingCurves([0.1, 0.05, 0.04], [0.1, 0.06, 0.05], [0.5, 0.2, 0.1], 2, top_predicted_share=0.6),
         "ok"),
        # Two epochs say too little.
        (TrainingCurves([0.9, 0.9], [0.9, 0.9], [2.3, 2.3], 10), "unknown"),
    ],
)  # fmt: skip
def test_assess_training(curves: TrainingCurves, status: str) -> None:
    assert assess_training(curves).status == status


def test_not_learning_reason_names_chance() -> None:
    health = assess_training(TrainingCurves([0.9, 0.9, 0.9], [0.9] * 3, [LN10] * 3, 10))
    assert health.reason == (
        "train error never left chance: 90.0 % at best over 3 epochs, where guessing among 10 classes gives "
        "90.0 %: the network did not learn"
    )
    assert health.chance_error == pytest.approx(0.9)


def test_an_accuracy_logged_as_an_error_is_flagged() -> None:
    health = assess_training(TrainingCurves([0.3, 0.6, 0.8, 0.9], [], [1.5, 1.0, 0.6, 0.4], 10))
    assert health.looks_like_accuracy
    assert "looks like an accuracy" in (health.reason or "")
    diagnosis = diagnose(ErrorLadder(None, 0.9, None, 0.88, None), health=health)
    assert any("looks like an accuracy" in note for note in diagnosis.notes)


def test_a_run_at_chance_is_told_to_lower_the_learning_rate_never_to_train_longer() -> None:
    health = assess_training(TrainingCurves([0.9] * 5, [0.9] * 5, [LN10] * 5, 10))
    diagnosis = diagnose(
        ErrorLadder(None, 0.9, None, 0.9, 0.9), SGD_LR10, health=health, sizes=SplitSizes(1078)
    )
    first = diagnosis.recommendations[0]
    assert (first.gap, first.path, first.value) == ("training", "hparams.lr", 1.0)
    assert first.text == "Lower the learning rate: the network did not learn (lr 10 -> 1)."
    paths = {r.path for r in diagnosis.recommendations}
    assert not paths & {"hparams.epochs", "model.hidden", "hparams.optimizer"}
    assert all(
        "bigger network" not in r.text and "Train longer" not in r.text for r in diagnosis.recommendations
    )
    assert diagnosis.summary.startswith("Training failed: train error never left chance")
    assert all("another architecture" not in r.text for r in diagnosis.recommendations)


def test_an_unstable_run_gets_a_lower_rate_clipping_and_warm_up() -> None:
    health = assess_training(
        TrainingCurves([0.05, 0.01, 0.004, 0.03, 0.006, 0.09], [], [0.5, 0.1, 0.04, 0.2, 0.05, 0.6])
    )
    hparams = {
        "lr": 0.3,
        "optimizer": "momentum",
        "grad_clip": None,
        "epochs": 6,
        "early_stopping_patience": None,
    }
    config = {"model": {"name": "resnet"}, "hparams": hparams}
    diagnosis = diagnose(ErrorLadder(None, 0.004, None, 0.011, None), config, health=health)
    assert [r.path for r in diagnosis.recommendations][:3] == ["hparams.lr", "hparams.grad_clip", None]
    assert diagnosis.recommendations[0].value == pytest.approx(0.1)
    assert "Warm the learning rate up" in diagnosis.recommendations[2].text
    assert "Train longer" not in " ".join(r.text for r in diagnosis.recommendations)


def test_a_slow_run_is_told_to_raise_the_learning_rate() -> None:
    health = assess_training(TrainingCurves([0.9, 0.9, 0.89], [0.9, 0.9, 0.9], [2.302, 2.29, 2.27], 10))
    config = {"hparams": {"lr": 1e-5, "optimizer": "sgd", "epochs": 10}}
    diagnosis = diagnose(ErrorLadder(None, 0.89, None, 0.9, None), config, health=health)
    assert (diagnosis.recommendations[0].path, diagnosis.recommendations[0].value) == ("hparams.lr", 1e-4)
    assert diagnosis.summary.startswith("Training is too slow:")
