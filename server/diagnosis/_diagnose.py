"""The diagnosis of one run: gaps with their noise, the one that dominates, how training went, what to try."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from server.diagnosis._advice import Recommendation, rank_recommendations
from server.diagnosis._health import TrainingHealth
from server.diagnosis._ladder import (
    GAPS,
    RUNGS,
    ErrorLadder,
    SplitSizes,
    Z,
    bayes_proxy,
    compute_gaps,
    gap_standard_error,
    primary_gap,
    ranked_gaps,
    rung_standard_error,
    rungs_of_gap,
    significance,
)

GAP_NAMES = {
    "avoidable_bias": "Avoidable bias",
    "variance": "Variance",
    "data_mismatch": "Data mismatch",
    "dev_overfitting": "Overfitting to the dev set",
}
_GAP_ADVICE = {
    "avoidable_bias": "reduce bias first (a bigger network, longer training)",
    "variance": "reduce variance first (more data, regularisation)",
    "data_mismatch": "make the training data more like the dev data",
    "dev_overfitting": "get a bigger dev set",
}
_RUNG_NAMES = {
    "human_level_error": "human-level error",
    "train_error": "train error",
    "train_dev_error": "train-dev error",
    "dev_error": "dev error",
    "test_error": "test error",
}
_SPLIT_NAMES = {
    "train_error": "train",
    "train_dev_error": "train-dev",
    "dev_error": "dev",
    "test_error": "test",
}


@dataclass(frozen=True)
class Diagnosis:
    """The gaps between the rungs of an :class:`ErrorLadder`, how sure each is, the dominant one, advice."""

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
    human_level_assumed: bool
    standard_errors: dict[str, float | None]
    #: Standard error of each rung's own error rate (the ladder's bars are drawn with Z of these).
    rung_standard_errors: dict[str, float | None]
    significant: dict[str, bool | None]
    #: One phrase per gap for the page: "within noise (± 2.4 points on 270 dev and 1,078 train examples)".
    readings: dict[str, str]
    split_sizes: dict[str, int | None]
    step: int | None
    #: The epoch whose weights the run kept (early stopping), when it said so.
    best_epoch: int | None
    training: TrainingHealth
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``GET /runs/{id}/diagnosis`` body (API.md), plus ``actions``, ``summary`` and ``readings``."""
        skip = {"recommendations", "training", "notes"}
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        body["recommendations"] = [r.text for r in self.recommendations]
        body["actions"] = [asdict(r) for r in self.recommendations]
        body["training"] = asdict(self.training)
        body["notes"] = list(self.notes)
        return body


def _points(value: float) -> str:
    return f"{value * 100:.1f}"


def _sizes_phrase(gap: str, ladder: ErrorLadder, sizes: SplitSizes) -> str:
    """ "270 dev and 1,078 train examples" for the rungs of a gap that were measured on a split."""
    parts = []
    for rung in reversed(rungs_of_gap(gap, ladder)):
        n = sizes.of(rung)
        if n is not None:
            parts.append(f"{n:,} {_SPLIT_NAMES[rung]}")
    return " and ".join(parts) + " examples"


def gap_reading(
    gap: str, value: float | None, se: float | None, real: bool | None, ladder: ErrorLadder, sizes: SplitSizes
) -> str:
    """How to read one gap in a few words: its noise band and whether it stands out of it."""
    if value is None:
        return "not measured"
    if se is None:
        return "uncertainty unknown (log the split sizes)"
    band = f"± {_points(Z * se)} points on {_sizes_phrase(gap, ladder, sizes)}"
    if value <= 0:
        return f"none ({band})"
    return f"real ({band})" if real else f"within noise ({band})"


def _summary(
    primary: str,
    gaps: Mapping[str, float | None],
    standard_errors: Mapping[str, float | None],
    ladder: ErrorLadder,
    sizes: SplitSizes,
    assumed: bool,
) -> str:
    """The diagnosis in one plain sentence."""
    if primary == "unknown":
        missing = [n for n in ("train_error", "dev_error") if getattr(ladder, n) is None]
        return f"Not enough logged to diagnose: {' and '.join(missing)} missing."
    if primary == "none":
        positive = [g for g in GAPS if (gaps[g] or 0) > 0]
        if not positive:
            return "No gap between the rungs: nothing stands out to fix."
        largest = max(positive, key=lambda g: gaps[g] or 0.0)
        se = standard_errors[largest]
        band = (
            f"± {_points(Z * se)} points on {_sizes_phrase(largest, ladder, sizes)}" if se is not None else ""
        )
        return (
            f"Every gap is within noise: the largest, {GAP_NAMES[largest].lower()} at "
            f"{_points(gaps[largest] or 0.0)} points, is inside {band}. Nothing stands out to fix; "
            "bigger dev and test sets or repeats with other seeds would resolve smaller gaps."
        )
    low, high = rungs_of_gap(primary, ladder)
    low_name = (
        "0 % (Bayes error assumed 0: no human-level error set)"
        if assumed and low == "human_level_error"
        else _RUNG_NAMES[low]
    )
    se = standard_errors[primary]
    band = f" (± {_points(Z * se)})" if se is not None else ""
    return (
        f"{GAP_NAMES[primary]} dominates: {_RUNG_NAMES[high]} is "
        f"{_points(gaps[primary] or 0.0)} points{band} above {low_name}; {_GAP_ADVICE[primary]}."
    )


def _notes(ladder: ErrorLadder, sizes: SplitSizes, assumed: bool, health: TrainingHealth) -> list[str]:
    notes = []  # (human_level_assumed is a field of its own: the page draws it with a link to set it)
    if (
        not assumed
        and ladder.human_level_error is not None
        and ladder.train_error is not None
        and ladder.train_error < ladder.human_level_error
    ):
        notes.append(
            f"Train error ({_points(ladder.train_error)} %) is below human-level error "
            f"({_points(ladder.human_level_error)} %): the model has passed the human proxy, so avoidable "
            "bias can no longer be read from it (Bayes error lies lower, by an unknown amount)."
        )
    if ladder.dev_error is not None and sizes.dev is None and sizes.train is None:
        notes.append(
            "Split sizes are unknown, so how much of each gap is noise is unknown too: log train_examples "
            "and dev_examples."
        )
    if health.reason and health.status in ("unknown",):
        notes.append(health.reason[0].upper() + health.reason[1:] + ".")
    return notes


def _training_summary(health: TrainingHealth) -> str:
    first = {
        "not_learning": "Training failed",
        "learning_slowly": "Training is too slow",
        "unstable": "Training is unstable",
    }[health.status]
    advice = (
        "raise the learning rate first"
        if health.status == "learning_slowly"
        else "lower the learning rate first"
    )
    return f"{first}: {health.reason}; {advice}."


def diagnose(
    ladder: ErrorLadder,
    config: Mapping[str, Any] | None = None,
    *,
    sizes: SplitSizes | None = None,
    health: TrainingHealth | None = None,
    step: int | None = None,
    best_epoch: int | None = None,
    stopped_early: bool = False,
    dataset_kind: str | None = None,
) -> Diagnosis:
    """Compute the gaps and their noise, pick the dominant real gap and recommend what to try next.

    Args:
        ladder: The run's error rates; missing rungs give null gaps, never an exception.
        config: The run's resolved config (``{"model": {...}, "hparams": {...}}``); it decides which
            one-click actions apply. ``config["dataset_kind"]`` may name the dataset kind.
        sizes: How many examples each error was measured on; without them every gap's noise is unknown
            and the largest positive gap dominates.
        health: How training went (:func:`assess_training`); a run that did not learn gets learning-rate
            advice first and never "train longer" or "a bigger network".
        step: The epoch the errors come from, reported as is.
        best_epoch: The epoch whose weights the run kept, reported as is.
        stopped_early: Early stopping ended the run before its last epoch: dev error had stopped
            improving, so "train longer" is not advice for it.
        dataset_kind: ``"image"`` enables the augmentation action; overrides ``config["dataset_kind"]``.

    Returns:
        A :class:`Diagnosis`. ``primary`` is ``"unknown"`` without train and dev errors, and ``"none"``
        when noise explains every gap.
    """
    sizes = sizes if sizes is not None else SplitSizes()
    health = health if health is not None else TrainingHealth("unknown")
    config = config if isinstance(config, Mapping) else {}
    _, assumed = bayes_proxy(ladder)
    assumed = assumed and ladder.train_error is not None
    gaps = compute_gaps(ladder)
    standard_errors = {gap: gap_standard_error(gap, ladder, sizes) for gap in GAPS}
    significant = significance(gaps, standard_errors)
    ranked = ranked_gaps(gaps, significant)
    primary = primary_gap(ladder, ranked)
    kind = dataset_kind if dataset_kind is not None else config.get("dataset_kind")
    summary = _summary(primary, gaps, standard_errors, ladder, sizes, assumed)
    if not health.healthy:
        summary = _training_summary(health)
    return Diagnosis(
        **{f.name: getattr(ladder, f.name) for f in fields(ladder)},
        **gaps,
        primary=primary,
        recommendations=rank_recommendations(
            ranked, config, health=health, dataset_kind=kind, stopped_early=stopped_early
        ),
        summary=summary,
        human_level_assumed=assumed,
        standard_errors=standard_errors,
        rung_standard_errors={r: rung_standard_error(r, ladder, sizes) for r in RUNGS},
        significant=significant,
        readings={
            g: gap_reading(g, gaps[g], standard_errors[g], significant[g], ladder, sizes) for g in GAPS
        },
        split_sizes={f.name: getattr(sizes, f.name) for f in fields(sizes)},
        step=step,
        best_epoch=best_epoch,
        training=health,
        notes=tuple(_notes(ladder, sizes, assumed, health)),
    )
