"""Bias / variance diagnosis: pure maths on a ladder of error rates.

Follows the error ladder of Andrew Ng's basic recipe: human-level -> train -> train-dev -> dev -> test.
Each step between two rungs names one problem, and each problem has its own knobs to turn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

GAPS = ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting")
_GAP_NAMES = {
    "avoidable_bias": "Avoidable bias",
    "variance": "Variance",
    "data_mismatch": "Data mismatch",
    "dev_overfitting": "Overfitting to the dev set",
}
_GAP_ADVICE = {
    "avoidable_bias": "try a bigger network or training longer",
    "variance": "try regularisation or more data",
    "data_mismatch": "make the training data more like the dev data",
    "dev_overfitting": "get a bigger dev set",
}


def validate_error_rate(name: str, value: float | None) -> None:
    """Raise ValueError unless ``value`` is None or a finite fraction in [0, 1]."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number or None, but got {name}={value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], but got {name}={value!r}")


@dataclass(frozen=True)
class ErrorLadder:
    """Error rates (fractions in [0, 1]) of one run on each split; None where not logged."""

    human_level_error: float | None = None
    train_error: float | None = None
    train_dev_error: float | None = None
    dev_error: float | None = None
    test_error: float | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            validate_error_rate(field.name, getattr(self, field.name))


@dataclass(frozen=True)
class Recommendation:
    """One piece of advice; with a ``path``, a one-click clone that sets that config field to ``value``."""

    gap: str
    text: str
    path: str | None = None
    value: object = None
    label: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """The gaps between the rungs of an :class:`ErrorLadder`, the largest one, and what to try next."""

    human_level_error: float | None
    train_error: float | None
    train_dev_error: float | None
    dev_error: float | None
    test_error: float | None
    avoidable_bias: float | None
    variance: float | None
    data_mismatch: float | None
    dev_overfitting: float | None
    primary: str
    recommendations: tuple[Recommendation, ...]
    summary: str

    def to_dict(self) -> dict[str, Any]:
        """The ``GET /runs/{id}/diagnosis`` body, plus ``actions`` and ``summary``."""
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "recommendations"}
        body["recommendations"] = [r.text for r in self.recommendations]
        body["actions"] = [asdict(r) for r in self.recommendations]
        return body


def _gap(high: float | None, low: float | None) -> float | None:
    # Rounding drops float noise (0.08 - 0.01 = 0.07000000000000001) without hiding real differences.
    return None if high is None or low is None else round(high - low, 12)


def compute_gaps(ladder: ErrorLadder) -> dict[str, float | None]:
    """The four gaps of API.md; None for a gap whose two rungs are not both known."""
    if ladder.train_dev_error is None:
        variance, data_mismatch = _gap(ladder.dev_error, ladder.train_error), None
    else:
        variance = _gap(ladder.train_dev_error, ladder.train_error)
        data_mismatch = _gap(ladder.dev_error, ladder.train_dev_error)
    return {
        "avoidable_bias": _gap(ladder.train_error, ladder.human_level_error),
        "variance": variance,
        "data_mismatch": data_mismatch,
        "dev_overfitting": _gap(ladder.test_error, ladder.dev_error),
    }


def _significant(gaps: Mapping[str, float | None], threshold: float) -> list[str]:
    """Names of the positive gaps at or above ``threshold``, largest first (recipe order on ties)."""
    named = [name for name in GAPS if gaps[name] is not None and gaps[name] >= threshold and gaps[name] > 0]
    return sorted(named, key=lambda name: -gaps[name])  # sorted() is stable, so ties keep GAPS order


def _summary(primary: str, gaps: Mapping[str, float | None], ladder: ErrorLadder, threshold: float) -> str:
    """The diagnosis in one plain sentence."""
    if primary == "unknown":
        missing = [n for n in ("train_error", "dev_error") if getattr(ladder, n) is None]
        return f"Not enough logged to diagnose: {' and '.join(missing)} missing."
    if primary == "none":
        return f"No gap is above {threshold * 100:.1f} points; nothing stands out to fix."
    variance_high = "dev error" if ladder.train_dev_error is None else "train-dev error"
    high, low = {
        "avoidable_bias": ("train error", "human-level error"),
        "variance": (variance_high, "train error"),
        "data_mismatch": ("dev error", "train-dev error"),
        "dev_overfitting": ("test error", "dev error"),
    }[primary]
    points = gaps[primary] * 100
    return (
        f"{_GAP_NAMES[primary]} dominates: {high} is {points:.1f} points above {low}; {_GAP_ADVICE[primary]}."
    )


def _section(config: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = config.get(name)
    return section if isinstance(section, Mapping) else {}


def _number(section: Mapping[str, Any], key: str) -> float | None:
    value = section.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(gap: str, text: str) -> Recommendation:
    return Recommendation(gap=gap, text=text)


def _knob(gap: str, path: str, value: object, text: str, label: str) -> Recommendation:
    """A one-click action that sets one config field."""
    return Recommendation(gap=gap, text=text, path=path, value=value, label=label)


def _bigger_network(model: Mapping[str, Any]) -> Recommendation:
    """Double every hidden size; advice only for models without ``hidden``."""
    hidden = model.get("hidden")
    sizes = [hidden] if isinstance(hidden, int) else hidden
    if not (isinstance(sizes, list | tuple) and sizes and all(type(h) is int and h > 0 for h in sizes)):
        return _text("avoidable_bias", "Train a bigger network (more layers or more units per layer).")
    doubled = [2 * h for h in sizes]
    old, new = (sizes[0], doubled[0]) if len(sizes) == 1 else (list(sizes), doubled)
    value = doubled[0] if isinstance(hidden, int) else doubled
    text = f"Train a bigger network: double the hidden units ({old} -> {new})."
    return _knob("avoidable_bias", "model.hidden", value, text, f"2x hidden units ({old} -> {new})")


def _bias_actions(model: Mapping[str, Any], hparams: Mapping[str, Any]) -> list[Recommendation]:
    """Bigger network, train longer, better optimiser, less regularisation."""
    gap = "avoidable_bias"
    actions = [_bigger_network(model)]
    epochs = _number(hparams, "epochs")
    if isinstance(epochs, int) and epochs > 0:
        change = f"({epochs} -> {2 * epochs})"
        text = f"Train longer: double the epochs {change}."
        actions.append(_knob(gap, "hparams.epochs", 2 * epochs, text, f"2x epochs {change}"))
    else:
        actions.append(_text(gap, "Train longer."))
    optimizer = hparams.get("optimizer")
    if isinstance(optimizer, str) and optimizer != "adam":
        text = f"Use a better optimiser: Adam instead of {optimizer}."
        actions.append(_knob(gap, "hparams.optimizer", "adam", text, f"Adam ({optimizer} -> adam)"))
    l2 = _number(hparams, "l2")
    if l2 is not None and l2 > 0:
        change = f"({l2:g} -> {l2 / 2:g})"
        text = f"Regularise less: halve the L2 strength {change}."
        actions.append(_knob(gap, "hparams.l2", l2 / 2, text, f"Halve L2 {change}"))
    keep_prob = _number(hparams, "keep_prob")
    if keep_prob is not None and keep_prob < 1:
        text = f"Regularise less: turn dropout off (keep_prob {keep_prob:g} -> 1)."
        actions.append(_knob(gap, "hparams.keep_prob", 1.0, text, f"No dropout ({keep_prob:g} -> 1)"))
    actions.append(_text(gap, "Search hyperparameters or try another architecture."))
    return actions


def _variance_actions(hparams: Mapping[str, Any], dataset_kind: str | None) -> list[Recommendation]:
    """More data, L2, dropout, augmentation (images only), early stopping."""
    gap = "variance"
    actions = []
    fraction = _number(hparams, "train_fraction")
    if fraction is not None and 0 < fraction < 1:
        new = min(1.0, fraction * 4)
        text = f"Train on more data: use {new:.0%} of the training set instead of {fraction:.0%}."
        label = f"More data (train_fraction {fraction:g} -> {new:g})"
        actions.append(_knob(gap, "hparams.train_fraction", new, text, label))
    else:
        actions.append(_text(gap, "Collect more training data."))
    l2 = _number(hparams, "l2")
    if l2 is not None and l2 >= 0:
        # .6g drops float noise such as 0.0010000000000000002
        new = 1e-3 if l2 == 0 else float(f"{l2 * 10:.6g}")
        text = f"{'Add' if l2 == 0 else 'Strengthen'} L2 regularisation (l2 {l2:g} -> {new:g})."
        actions.append(_knob(gap, "hparams.l2", new, text, f"L2 ({l2:g} -> {new:g})"))
    keep_prob = _number(hparams, "keep_prob")
    if keep_prob is not None and 0.5 < keep_prob <= 1:
        new = 0.8 if keep_prob == 1 else max(0.5, round(keep_prob - 0.1, 6))
        change = f"(keep_prob {keep_prob:g} -> {new:g})"
        text = f"{'Add' if keep_prob == 1 else 'Strengthen'} dropout {change}."
        actions.append(_knob(gap, "hparams.keep_prob", new, text, f"Dropout {change}"))
    if dataset_kind == "image" and "augment" in hparams and hparams["augment"] is not True:
        text = "Augment the training images (small shifts, rotations and noise)."
        actions.append(_knob(gap, "hparams.augment", True, text, "Augment data"))
    if "early_stopping_patience" in hparams and hparams["early_stopping_patience"] is None:
        text = "Stop early once dev error stops improving (patience 5 epochs)."
        actions.append(_knob(gap, "hparams.early_stopping_patience", 5, text, "Early stopping (patience 5)"))
    actions.append(_text(gap, "Search hyperparameters or try another architecture."))
    return actions


def recommend(
    gap: str, config: Mapping[str, Any] | None = None, *, dataset_kind: str | None = None
) -> tuple[Recommendation, ...]:
    """What to try for one gap, one knob at a time, built from the run's resolved config."""
    if gap not in GAPS:
        raise ValueError(f"gap must be one of {GAPS}, but got {gap=}")
    config = config if isinstance(config, Mapping) else {}
    if gap == "avoidable_bias":
        return tuple(_bias_actions(_section(config, "model"), _section(config, "hparams")))
    if gap == "variance":
        return tuple(_variance_actions(_section(config, "hparams"), dataset_kind))
    if gap == "data_mismatch":
        return (
            _text(
                gap,
                "Make the training data more like the dev data: synthesise similar examples "
                "or collect more training examples like those in the dev set.",
            ),
            _text(gap, "Do error analysis on train-dev and dev examples to see how the dev data differs."),
        )
    return (_text(gap, "Get a bigger dev set: repeated tuning has overfit the current one."),)


def diagnose(
    ladder: ErrorLadder,
    config: Mapping[str, Any] | None = None,
    *,
    threshold: float = 0.005,
    dataset_kind: str | None = None,
) -> Diagnosis:
    """Compute the gaps, pick the primary one and recommend what to try next.

    Args:
        ladder: The run's error rates; missing rungs give null gaps, never an exception.
        config: The run's resolved config (``{"model": {...}, "hparams": {...}}``); it decides which
            one-click actions apply. ``config["dataset_kind"]`` may name the dataset kind.
        threshold: Gaps below this fraction are not worth acting on.
        dataset_kind: ``"image"`` enables the augmentation action; overrides ``config["dataset_kind"]``.

    Returns:
        A :class:`Diagnosis`. ``primary`` is ``"unknown"`` without train and dev errors, and ``"none"``
        when no gap reaches ``threshold``.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"threshold must be a number, but got {threshold=}")
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be finite and non-negative, but got {threshold=}")
    config = config if isinstance(config, Mapping) else {}
    gaps = compute_gaps(ladder)
    significant = _significant(gaps, threshold)
    if ladder.train_error is None or ladder.dev_error is None:
        primary = "unknown"
    else:
        primary = significant[0] if significant else "none"
    kind = dataset_kind if dataset_kind is not None else config.get("dataset_kind")
    recommendations = tuple(rec for gap in significant for rec in recommend(gap, config, dataset_kind=kind))
    return Diagnosis(
        **{f.name: getattr(ladder, f.name) for f in fields(ladder)},
        **gaps,
        primary=primary,
        recommendations=recommendations,
        summary=_summary(primary, gaps, ladder, threshold),
    )
