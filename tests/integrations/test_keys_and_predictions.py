"""The integrations' pure parts: framework metric names to canonical keys, values the client would refuse,
and a classifier's outputs to prediction rows (no framework, no server)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from trainboard.integrations import canonical_metrics
from trainboard.integrations._keys import epoch_step, loggable, split_of
from trainboard.integrations._predictions import classification_rows, probabilities


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("val_loss", ("dev", "loss")),
        ("val/acc", ("dev", "acc")),
        ("eval_accuracy", ("dev", "accuracy")),
        ("eval_train_accuracy", ("train", "accuracy")),  # Trainer(eval_dataset={"train": ...})
        ("eval_train_dev_loss", ("train_dev", "loss")),
        ("train_dev_error", ("train_dev", "error")),
        ("train_device_count", ("train", "device_count")),
        ("validation_f1", ("dev", "f1")),
        ("test_acc", ("test", "acc")),
        ("loss", None),
        ("grad_norm", None),
        ("val", None),
        ("evaluation_loss", None),
    ],
)
def test_split_of_names_the_split_a_metric_was_measured_on(
    key: str, expected: tuple[str, str] | None
) -> None:
    assert split_of(key) == expected


def test_canonical_metrics_maps_names_and_turns_accuracy_into_error() -> None:
    logged = {
        "eval_loss": 0.4,
        "eval_accuracy": 0.9,
        "eval_train_accuracy": 0.97,
        "val_error": 0.2,
        "val_f1": 0.8,
        "eval_runtime": 1.5,
        "grad_norm": 2.0,
    }
    assert canonical_metrics(logged) == {
        "dev_loss": 0.4,
        "dev_accuracy": 0.9,
        "dev_error": 0.2,  # val_error, logged after eval_accuracy's 0.1, wins
        "train_accuracy": 0.97,
        "train_error": 0.03,
        "dev_f1": 0.8,
        "dev_runtime": 1.5,
        "grad_norm": 2.0,
    }
    assert canonical_metrics({"val_acc": 87.5}) == {"dev_acc": 87.5}  # a percentage gives no error


def test_loggable_leaves_out_what_the_client_would_refuse_and_says_why() -> None:
    kept, problems = loggable(
        {"dev_error": 8.0, "train_loss": math.nan, "dev_loss": 0.3, "dev_examples": 2.5, "val acc": 0.9}
    )
    assert kept == {"dev_loss": 0.3}
    assert problems == [
        "dev_error is 8.0: error rates are fractions in [0, 1], 0.08 meaning 8 % (for 8 %, log 0.08)",
        "train_loss is nan: only finite numbers can be logged",
        "dev_examples is 2.5: a split size is a whole number of examples, at least 1",
        "metric key 'val acc' holds characters the server refuses: letters, digits and _ . - / : only "
        "(no spaces)",
    ]


@pytest.mark.parametrize(("epoch", "step"), [(1.0, 1), (2.0, 2), (2.5, 3), (0.2, 1), (3.0000001, 3)])
def test_epoch_step_is_the_epoch_a_fractional_count_belongs_to(epoch: float, step: int) -> None:
    assert epoch_step(epoch) == step


def test_logits_and_probabilities_give_the_same_rows() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [1000.0, 0.0, 0.0]])
    probs = torch.softmax(logits, dim=1)
    from_logits = classification_rows(["a", "b", "c"], [0, 2, 0], logits)
    from_probs = classification_rows(["a", "b", "c"], np.array([0, 2, 0]), probs.numpy())
    assert [r["predicted"] for r in from_logits] == [0, 1, 0]
    assert [r["label"] for r in from_logits] == [0, 2, 0]
    assert from_logits[0]["confidence"] == pytest.approx(float(probs[0, 0]))
    assert from_logits[1]["loss"] == pytest.approx(-math.log(float(probs[1, 2])))
    assert from_logits[2]["confidence"] == 1.0  # no overflow on a large logit
    for mine, theirs in zip(from_logits, from_probs, strict=True):
        assert mine == pytest.approx(theirs)


def test_rows_default_to_positions_and_can_carry_class_names() -> None:
    rows = classification_rows(None, [1, 0], [[0.2, 0.8], [0.3, 0.7]], class_names=["cat", "dog"])
    assert [(r["example_id"], r["label"], r["predicted"]) for r in rows] == [
        ("0", "dog", "dog"),
        ("1", "cat", "dog"),
    ]


@pytest.mark.parametrize(
    ("ids", "labels", "scores", "message"),
    [
        (None, [0, 1], [0.3, 0.7], "must be (examples, classes)"),
        (None, [0], [[0.3, 0.7], [0.5, 0.5]], "labels has 1 entries but logits_or_probs 2 rows"),
        (["a"], [0, 1], [[0.3, 0.7], [0.5, 0.5]], "example_ids has 1 entries"),
        (None, [0, 2], [[0.3, 0.7], [0.5, 0.5]], "labels must be class indices in [0, 2)"),
        (None, [0], [[math.nan, 0.5]], "NaN or infinite"),
    ],
)
def test_bad_predictions_are_refused_naming_the_input(ids, labels, scores, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=re.escape(message)):
        classification_rows(ids, labels, scores)


def test_probabilities_keeps_rows_that_already_sum_to_one() -> None:
    scores = np.array([[0.25, 0.75], [1.0, 3.0]])
    out = probabilities(scores)
    assert out[0].tolist() == [0.25, 0.75]
    assert out[1] == pytest.approx(np.exp([1.0, 3.0]) / np.exp([1.0, 3.0]).sum())
