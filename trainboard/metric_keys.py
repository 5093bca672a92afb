"""The canonical metric keys of API.md, and what values each may take.

One definition for everyone who logs them or reads them: the worker, users' scripts through the client
library (which refuses a bad value at ``run.log``, before a batch is sent), the server's ingestion (a 422) and
the diagnosis. Pure: no I/O, no third-party imports.
"""

from __future__ import annotations

import math
import re

#: Fraction of examples misclassified on each split, one point per epoch (step = the epoch number).
ERROR_KEYS = ("train_error", "train_dev_error", "dev_error", "test_error")
#: Mean cross-entropy per split, one point per epoch.
LOSS_KEYS = ("train_loss", "dev_loss")
#: How many examples each error was measured on (the diagnosis's noise level comes from these).
SIZE_KEYS = ("train_examples", "train_dev_examples", "dev_examples", "test_examples")
#: The split each error key is measured on, and that split's size key.
SIZE_OF_ERROR = dict(zip(ERROR_KEYS, SIZE_KEYS, strict=True))
#: The epoch whose weights a run kept (early stopping); its errors are the run's summary.
BEST_EPOCH_KEY = "best_epoch"
#: The learning rate in force in each epoch.
LR_KEY = "lr"
#: Every key the diagnosis, the summary and the charts read by name: what a project's alias may map to.
CANONICAL_KEYS = (*ERROR_KEYS, *LOSS_KEYS, LR_KEY, *SIZE_KEYS, BEST_EPOCH_KEY)

#: What a metric key may hold (the server's schema reads these: one definition).
KEY_PATTERN = r"^[A-Za-z0-9_.\-/:]+$"
KEY_MAX_LENGTH = 250

_ERROR_KEYS = frozenset(ERROR_KEYS)
_SIZE_KEYS = frozenset(SIZE_KEYS)
_CANONICAL_KEYS = frozenset(CANONICAL_KEYS)


def is_checked(key: str) -> bool:
    """Whether ``key`` is a key whose values :func:`value_problem` checks (cheap: one set lookup)."""
    return key in _ERROR_KEYS or key in _SIZE_KEYS


_KEY = re.compile(KEY_PATTERN)
_GOOD_KEYS: set[str] = set()  # keys found good, so that a script's few keys are matched once each
_GOOD_KEYS_KEPT = 10_000


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot name a metric, in one sentence; None when it can. (The server refuses a batch
    holding one, so the client library refuses it at ``run.log``, before the batch leaves.)"""
    if key in _GOOD_KEYS:
        return None
    if not 1 <= len(key) <= KEY_MAX_LENGTH:
        return f"metric key {key[:40]!r} has {len(key)} characters: 1 to {KEY_MAX_LENGTH} are allowed"
    if _KEY.fullmatch(key) is None:  # not match: `$` would let a trailing newline through
        return (
            f"metric key {key!r} holds characters the server refuses: letters, digits and _ . - / : only "
            "(no spaces)"
        )
    if len(_GOOD_KEYS) < _GOOD_KEYS_KEPT:
        _GOOD_KEYS.add(key)
    return None


def value_problem(key: str, value: float) -> str | None:
    """Why ``value`` cannot be logged under ``key``, in one sentence; None when it can.

    Error keys take fractions in [0, 1] (a percentage such as 8.0 would read as 800 %); split sizes take
    whole numbers of at least 1. Other keys take any finite number.
    """
    if key in _ERROR_KEYS:
        if math.isfinite(value) and 0.0 <= value <= 1.0:
            return None
        hint = f" (for {value:g} %, log {value / 100:g})" if 1.0 < value <= 100.0 else ""
        return f"{key} is {value!r}: error rates are fractions in [0, 1], 0.08 meaning 8 %{hint}"
    if key in _SIZE_KEYS and not (math.isfinite(value) and value >= 1 and value == int(value)):
        return f"{key} is {value!r}: a split size is a whole number of examples, at least 1"
    return None


def alias_problem(alias: str, canonical: str) -> str | None:
    """Why points logged under ``alias`` cannot be stored under ``canonical`` instead; None when they can.

    The target must be a canonical key (an alias exists so that the diagnosis reads a script's own names),
    and the alias must not be one: renaming ``dev_error`` would hide the real one."""
    if canonical not in _CANONICAL_KEYS:
        known = ", ".join(CANONICAL_KEYS)
        return f"{alias} -> {canonical}: the target must be a canonical key, one of {known}"
    if alias in _CANONICAL_KEYS:
        return f"{alias} -> {canonical}: {alias} is itself a canonical key and cannot be an alias"
    return None


__all__ = [
    "BEST_EPOCH_KEY",
    "CANONICAL_KEYS",
    "ERROR_KEYS",
    "LOSS_KEYS",
    "LR_KEY",
    "SIZE_KEYS",
    "SIZE_OF_ERROR",
    "alias_problem",
    "is_checked",
    "value_problem",
]
