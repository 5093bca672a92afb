"""Framework metric names -> Trainboard's canonical keys (trainboard.metric_keys), shared by the Hugging Face
callback and the Lightning logger. Pure: no I/O, no framework imports.

A name that starts with a split (``val_acc``, ``eval_loss``, ``train/loss``, ``eval_train_accuracy`` for
a Trainer evaluating a dict of datasets) becomes ``<split>_<what>`` with the split's canonical name
(``val``, ``valid``, ``validation`` and ``eval`` are the dev split); an accuracy also gives the split's
error, 1 - accuracy. Any other name is kept as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from trainboard.metric_keys import CANONICAL_KEYS, key_problem, value_problem

#: A metric name's first word -> the split it was measured on.
SPLITS = {
    "train": "train",
    "train_dev": "train_dev",
    "dev": "dev",
    "val": "dev",
    "valid": "dev",
    "validation": "dev",
    "eval": "dev",
    "test": "test",
}
ACCURACY_NAMES = frozenset({"acc", "accuracy"})
ERROR_NAMES = frozenset({"err", "error"})
_SPLIT_WORD = re.compile(r"^(train_dev|train|dev|val|valid|validation|eval|test)(?:[_/](.+))?$")
_CANONICAL = frozenset(CANONICAL_KEYS)


def split_of(key: str) -> tuple[str, str] | None:
    """ "val_acc" -> ("dev", "acc"); "eval_train_loss" -> ("train", "loss"); None for "grad_norm".

    After ``eval``, a second split word names the dataset (the Trainer's ``eval_dataset={"train": ...}``)."""
    match = _SPLIT_WORD.match(key)
    if match is None or match[2] is None:
        return None
    split, rest = SPLITS[match[1]], match[2]
    if match[1] == "eval" and (inner := _SPLIT_WORD.match(rest)) is not None and inner[2] is not None:
        split, rest = SPLITS[inner[1]], inner[2]
    return split, rest


def canonical_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """Each metric under its canonical name, plus ``<split>_error`` = 1 - accuracy for a split's accuracy.

    An accuracy outside [0, 1] (a percentage?) gives no error: 1 - 85.0 would be nonsense."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        parsed = split_of(key)
        if parsed is None:
            out[key] = value
            continue
        split, what = parsed
        if what in ERROR_NAMES:
            out[f"{split}_error"] = value
            continue
        out[f"{split}_{what}"] = value
        if what in ACCURACY_NAMES and 0.0 <= value <= 1.0:
            out[f"{split}_error"] = round(1.0 - value, 12)  # 1 - 0.9 is 0.09999999999999998
    return out


def is_canonical(key: str) -> bool:
    """Whether the diagnosis reads ``key`` (one point per epoch, step = the epoch number)."""
    return key in _CANONICAL


def loggable(metrics: Mapping[str, float]) -> tuple[dict[str, float], list[str]]:
    """The metrics the client library accepts, and why each other one was left out.

    An integration must not stop a training run because of one value: a NaN loss, a percentage under an
    error key or a name the server refuses (a space in it) is reported and skipped, where ``run.log`` would
    raise."""
    kept: dict[str, float] = {}
    problems: list[str] = []
    for key, raw in metrics.items():
        value = float(raw)
        if (problem := key_problem(key)) is not None:
            problems.append(problem)
        elif not math.isfinite(value):
            problems.append(f"{key} is {value}: only finite numbers can be logged")
        elif (problem := value_problem(key, value)) is not None:
            problems.append(problem)
        else:
            kept[key] = value
    return kept, problems


def epoch_step(epoch: float) -> int:
    """The epoch number a fractional epoch count belongs to: 1.0 -> 1, 2.5 -> 3 (the third, cut short)."""
    return max(1, math.ceil(epoch - 1e-6))
