"""Error analysis: pure counts over one split's labels, predictions and tags.

The service layer loads rows from the database and passes plain sequences in; nothing here does I/O.
Confusion matrices put the true label on rows and the predicted label on columns.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TagCount:
    """How many errors carry one tag, and the most fixing them all could cut the error rate."""

    tag: str
    count: int
    fraction_of_errors: float
    max_error_reduction: float


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class; ``support`` is its number of true examples."""

    label: Any
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ErrorAnalysis:
    """Counts behind ``GET /runs/{id}/error-analysis``."""

    examples: int
    errors: int
    error_rate: float
    tagged_errors: int
    untagged_errors: int
    by_tag: tuple[TagCount, ...]
    per_class: tuple[ClassMetrics, ...]
    macro_avg: dict[str, float]
    weighted_avg: dict[str, float]
    confusion_labels: tuple[Any, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        """The API body: ``confusion`` nests labels and matrix; lists instead of tuples."""
        body = {name: getattr(self, name) for name in ("examples", "errors", "error_rate", "tagged_errors")}
        body["untagged_errors"] = self.untagged_errors
        body["by_tag"] = [asdict(t) for t in self.by_tag]
        body["per_class"] = [asdict(c) for c in self.per_class]
        body["macro_avg"] = dict(self.macro_avg)
        body["weighted_avg"] = dict(self.weighted_avg)
        body["confusion"] = {
            "labels": list(self.confusion_labels),
            "matrix": [list(row) for row in self.confusion_matrix],
        }
        return body


@dataclass(frozen=True)
class ConfidenceBin:
    """Examples whose confidence lies in ``[lower, upper)`` (the last bin includes 1.0)."""

    lower: float
    upper: float
    count: int
    errors: int
    error_rate: float | None
    mean_confidence: float | None


@dataclass(frozen=True)
class ClassErrorRate:
    """How often examples of one true label are misclassified."""

    label: Any
    examples: int
    errors: int
    error_rate: float


@dataclass(frozen=True)
class PrecisionRecallCurve:
    """Precision and recall when predicting positive at ``score >= thresholds[i]``; thresholds descend."""

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    average_precision: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists."""
        return {
            "thresholds": self.thresholds.tolist(),
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "average_precision": self.average_precision,
        }


@dataclass(frozen=True)
class RunComparison:
    """Examples scored by both runs, split by how their outcome changed from run ``a`` to run ``b``."""

    fixed: tuple[Hashable, ...]
    newly_broken: tuple[Hashable, ...]
    still_wrong: tuple[Hashable, ...]
    compared: int

    def to_dict(self) -> dict[str, Any]:
        """Counts and ids of each group."""
        groups = {"fixed": self.fixed, "newly_broken": self.newly_broken, "still_wrong": self.still_wrong}
        body: dict[str, Any] = {"compared": self.compared}
        for name, ids in groups.items():
            body[name] = {"count": len(ids), "ids": list(ids)}
        return body


def _natural_key(value: Any) -> tuple[int, float, str]:
    """Numbers (and number-like text such as "10") in numeric order first, then the rest by text."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return (0, float(value), "")
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return (1, 0.0, text)
    return (0, number, text) if math.isfinite(number) else (1, 0.0, text)


def _encode(labels: Sequence[Any], predicted: Sequence[Any]) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The distinct labels in natural order, and each example's true and predicted label as an index."""
    if len(labels) != len(predicted):
        raise ValueError(
            f"labels and predicted must have the same length, but got {len(labels)=} and {len(predicted)=}"
        )
    # Dict lookups beat np.unique on text labels and keep each label's own type (1 stays an int).
    labels = labels.tolist() if isinstance(labels, np.ndarray) else labels
    predicted = predicted.tolist() if isinstance(predicted, np.ndarray) else predicted
    names = sorted(dict.fromkeys(itertools.chain(labels, predicted)), key=_natural_key)
    index = {name: i for i, name in enumerate(names)}
    true_index = np.fromiter(map(index.__getitem__, labels), dtype=np.intp, count=len(labels))
    predicted_index = np.fromiter(map(index.__getitem__, predicted), dtype=np.intp, count=len(predicted))
    return names, true_index, predicted_index


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with 0.0 where the denominator is 0."""
    safe = np.where(denominator > 0, denominator, 1)
    return np.where(denominator > 0, numerator / safe, 0.0)


def _class_metrics(names: list[Any], matrix: np.ndarray) -> tuple[tuple[ClassMetrics, ...], dict, dict]:
    """Per-class precision/recall/F1 and their macro and support-weighted averages."""
    true_pos = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _ratio(true_pos, predicted), _ratio(true_pos, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    per_class = tuple(
        ClassMetrics(name, float(pr), float(rc), float(f), int(s))
        for name, pr, rc, f, s in zip(names, precision, recall, f1, support, strict=True)
    )
    total = int(support.sum())
    metrics = {"precision": precision, "recall": recall, "f1": f1}
    macro = {k: float(v.mean()) if len(v) else 0.0 for k, v in metrics.items()}
    weighted = {k: float((v * support).sum() / total) if total else 0.0 for k, v in metrics.items()}
    return per_class, {**macro, "support": total}, {**weighted, "support": total}


def _tag_counts(
    is_error: np.ndarray, tags_by_index: Mapping[int, Collection[str]]
) -> tuple[Counter[str], int]:
    """How many errors carry each tag, and how many errors carry at least one tag."""
    indexes = list(tags_by_index)
    for index in indexes:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ValueError(f"tags_by_index keys must be example indexes, but got {index=}")
        if not 0 <= index < len(is_error):
            raise ValueError(f"tags_by_index keys must be in [0, {len(is_error)}), but got {index=}")
    counts: Counter[str] = Counter()
    tagged = 0
    hits = is_error[np.asarray(indexes, dtype=np.intp)].tolist() if indexes else []
    for index, hit in zip(indexes, hits, strict=True):
        tags = set(tags_by_index[index])
        if hit and tags:
            counts.update(tags)
            tagged += 1
    return counts, tagged


def analyse_errors(
    labels: Sequence[Any],
    predicted: Sequence[Any],
    tags_by_index: Mapping[int, Collection[str]] | None = None,
) -> ErrorAnalysis:
    """Count errors, errors per tag, per-class metrics and the confusion matrix of one split.

    Args:
        labels: True label of each example (ints or strings).
        predicted: Predicted label of each example, in the same order.
        tags_by_index: Tags of some examples, keyed by their index into ``labels``; tags of correctly
            classified examples are ignored.
    """
    names, y, p = _encode(labels, predicted)
    k = len(names)
    # One bincount builds the whole k x k matrix: cell (true, predicted) is bucket true * k + predicted.
    matrix = np.bincount(y * k + p, minlength=k * k).reshape(k, k)
    counts, tagged = _tag_counts(y != p, tags_by_index or {})
    return _analysis(names, matrix, counts, tagged)


def analyse_confusion(
    cells: Mapping[tuple[Any, Any], int], tag_counts: Mapping[str, int], tagged_errors: int
) -> ErrorAnalysis:
    """The same counts as ``analyse_errors`` from pre-aggregated numbers (what a GROUP BY returns).

    Args:
        cells: Number of examples per (true label, predicted label).
        tag_counts: Number of misclassified examples carrying each tag.
        tagged_errors: Number of misclassified examples carrying at least one tag.
    """
    bad = next(((pair, n) for pair, n in cells.items() if n < 0), None)
    if bad is not None:
        raise ValueError(f"cell counts must be >= 0, but got cells[{bad[0]!r}]={bad[1]}")
    names = sorted({name for pair in cells for name in pair}, key=_natural_key)
    index = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for (true, guess), n in cells.items():
        matrix[index[true], index[guess]] += n
    errors = int(matrix.sum() - np.trace(matrix))
    if not 0 <= tagged_errors <= errors or any(n > tagged_errors for n in tag_counts.values()):
        raise ValueError(f"tag counts cannot exceed the tagged errors, but got {tagged_errors=} of {errors=}")
    return _analysis(names, matrix, Counter(dict(tag_counts)), tagged_errors)


def _analysis(names: list[Any], matrix: np.ndarray, counts: Counter[str], tagged: int) -> ErrorAnalysis:
    examples = int(matrix.sum())
    errors = examples - int(np.trace(matrix))
    by_tag = tuple(
        TagCount(tag, n, n / errors, n / examples)
        for tag, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if n > 0
    )
    per_class, macro, weighted = _class_metrics(names, matrix)
    return ErrorAnalysis(
        examples=examples,
        errors=errors,
        error_rate=errors / examples if examples else 0.0,
        tagged_errors=tagged,
        untagged_errors=errors - tagged,
        by_tag=by_tag,
        per_class=per_class,
        macro_avg=macro,
        weighted_avg=weighted,
        confusion_labels=tuple(names),
        confusion_matrix=tuple(tuple(row) for row in matrix.tolist()),
    )


def error_rate_by_class(labels: Sequence[Any], predicted: Sequence[Any]) -> tuple[ClassErrorRate, ...]:
    """Error rate of each true label, in natural label order (labels never seen as true are left out)."""
    names, y, p = _encode(labels, predicted)
    examples = np.bincount(y, minlength=len(names))
    errors = np.bincount(y[y != p], minlength=len(names))
    return tuple(
        ClassErrorRate(name, int(n), int(e), e / n)
        for name, n, e in zip(names, examples.tolist(), errors.tolist(), strict=True)
        if n > 0
    )


def _as_float_array(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).reshape(-1)
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} must be finite, but got {name}[{bad}]={array[bad]}")
    return array


def confidence_bins(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> tuple[ConfidenceBin, ...]:
    """Error rate per equal-width confidence bin on [0, 1] (a reliability diagram's data)."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, but got {bins=}")
    if len(confidences) != len(correct):
        lengths = f"{len(confidences)=} and {len(correct)=}"
        raise ValueError(f"confidences and correct must have the same length, but got {lengths}")
    conf = _as_float_array(confidences, "confidences")
    if conf.size and (conf.min() < 0 or conf.max() > 1):
        bad = conf[(conf < 0) | (conf > 1)][0]
        raise ValueError(f"confidences must be in [0, 1], but got confidence={float(bad)}")
    wrong = ~np.asarray(correct, dtype=bool).reshape(-1)
    index = np.minimum((conf * bins).astype(np.intp), bins - 1)
    counts = np.bincount(index, minlength=bins)
    errors = np.bincount(index, weights=wrong, minlength=bins)
    sums = np.bincount(index, weights=conf, minlength=bins)
    return tuple(
        ConfidenceBin(i / bins, (i + 1) / bins, int(n), int(e), e / n if n else None, s / n if n else None)
        for i, (n, e, s) in enumerate(zip(counts.tolist(), errors.tolist(), sums.tolist(), strict=True))
    )


def precision_recall_curve(labels01: Sequence[int], scores: Sequence[float]) -> PrecisionRecallCurve:
    """Precision and recall at every distinct score of a binary problem (label 1 is positive)."""
    if len(labels01) != len(scores):
        raise ValueError(
            f"labels01 and scores must have the same length, but got {len(labels01)=} and {len(scores)=}"
        )
    y = np.asarray(labels01).reshape(-1)
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(
            f"labels01 must hold only 0 and 1, but got label={y[~np.isin(y, (0, 1))][0].item()!r}"
        )
    s = _as_float_array(scores, "scores")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order].astype(float)
    # The last example of each run of equal scores is where that threshold's counts are complete.
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if s.size else np.empty(0, dtype=np.intp)
    true_pos = np.cumsum(y)[last]
    predicted_pos = last + 1.0
    positives = float(y.sum())
    precision = true_pos / predicted_pos
    recall = true_pos / positives if positives else np.zeros_like(true_pos)
    average_precision = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return PrecisionRecallCurve(s[last], precision, recall, average_precision)


def compare_runs(a: Mapping[Hashable, bool], b: Mapping[Hashable, bool]) -> RunComparison:
    """Compare two runs' outcomes (example_id -> is_error) on the examples both scored."""
    shared = a.keys() & b.keys()
    fixed = [i for i in shared if a[i] and not b[i]]
    newly_broken = [i for i in shared if not a[i] and b[i]]
    still_wrong = [i for i in shared if a[i] and b[i]]
    return RunComparison(
        fixed=tuple(sorted(fixed, key=_natural_key)),
        newly_broken=tuple(sorted(newly_broken, key=_natural_key)),
        still_wrong=tuple(sorted(still_wrong, key=_natural_key)),
        compared=len(shared),
    )
