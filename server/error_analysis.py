"""Error analysis: pure counts over one split's labels, predictions and tags.

The service layer loads rows from the database and passes plain sequences in; nothing here does I/O.
Confusion matrices put the true label on rows and the predicted label on columns.

Tags sort errors into categories. An error with any tag has been looked at ("reviewed"); the reserved tag
``REVIEWED`` marks one reviewed without putting it in a category. When a person reviews a sample of the errors
(the course reviews about 100), each category's share of that sample, times the error rate, estimates how much
the error rate would fall if the category were fixed.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: The tag that marks an error reviewed without putting it in a category: never counted as a category.
REVIEWED = "reviewed"


#: A class or a slice whose error rate is at least this many times the split's is flagged on the page.
HOT_LIFT = 1.5


@dataclass(frozen=True)
class ErrorShare:
    """A group of errors: its share of all errors and of the reviewed ones, and the ceilings they set.

    ``max_error_reduction`` = count / examples: the most fixing every error of the group could cut the error
    rate. ``fraction_of_reviewed`` = the group's count among the reviewed errors / reviewed errors, and
    ``max_error_reduction_reviewed`` = fraction_of_reviewed x error_rate: the same ceiling estimated from the
    reviewed sample. Both are None when nothing is reviewed, or when the group lies outside the sample.
    """

    count: int
    fraction_of_errors: float
    max_error_reduction: float
    fraction_of_reviewed: float | None
    max_error_reduction_reviewed: float | None


@dataclass(frozen=True, kw_only=True)
class TagCount(ErrorShare):
    """How many errors carry one tag (a category), with the shares and ceilings of ``ErrorShare``.

    ``cumulative_share``: this tag's count and every larger one's over all tags' counts summed (the Pareto
    line; tags overlap, so it runs over tag counts, not errors, and ends at 1)."""

    tag: str
    cumulative_share: float


def error_share(
    count: int, *, errors: int, examples: int, reviewed_count: int | None, reviewed: int
) -> ErrorShare:
    """The shares and ceilings of a group of ``count`` errors, ``reviewed_count`` of them in the sample.

    Args:
        count: Errors in the group.
        errors: All errors of the split; ``examples``: all its examples.
        reviewed_count: Errors of the group among the reviewed ones; None for a group outside the sample.
        reviewed: Reviewed errors (the sample's size).
    """
    if not 0 <= count <= errors <= examples:
        raise ValueError(f"need 0 <= count <= errors <= examples, but got {count=}, {errors=}, {examples=}")
    if not 0 <= reviewed <= errors or not 0 <= (reviewed_count or 0) <= reviewed:
        raise ValueError(
            f"need 0 <= reviewed_count <= reviewed <= errors, but got {reviewed_count=}, {reviewed=}"
        )
    share = None if reviewed_count is None or not reviewed else reviewed_count / reviewed
    return ErrorShare(
        count=count,
        fraction_of_errors=count / errors if errors else 0.0,
        max_error_reduction=count / examples if examples else 0.0,
        fraction_of_reviewed=share,
        max_error_reduction_reviewed=None if share is None else share * (errors / examples),
    )


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
    """Counts behind ``GET /runs/{id}/error-analysis``.

    ``tagged_errors`` carry any tag (the ``REVIEWED`` mark included): they are the reviewed sample, so
    ``reviewed_errors`` equals it. ``untagged`` are the errors nobody reviewed yet; ``other`` the reviewed
    errors in no category (the "other" column of the course's spreadsheet).
    """

    examples: int
    errors: int
    error_rate: float
    tagged_errors: int
    untagged_errors: int
    reviewed_errors: int
    by_tag: tuple[TagCount, ...]
    other: ErrorShare
    untagged: ErrorShare
    per_class: tuple[ClassMetrics, ...]
    macro_avg: dict[str, float]
    weighted_avg: dict[str, float]
    confusion_labels: tuple[Any, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]

    @property
    def all_errors(self) -> ErrorShare:
        """Every error as one group: the whole error rate, and the whole sample."""
        return error_share(
            self.errors,
            errors=self.errors,
            examples=self.examples,
            reviewed_count=self.reviewed_errors,
            reviewed=self.reviewed_errors,
        )

    def to_dict(self) -> dict[str, Any]:
        """The API body: ``confusion`` nests labels and matrix; lists instead of tuples."""
        names = ("examples", "errors", "error_rate", "tagged_errors", "untagged_errors", "reviewed_errors")
        body = {name: getattr(self, name) for name in names}
        body["by_tag"] = [asdict(t) for t in self.by_tag]
        body["other"] = asdict(self.other)
        body["untagged"] = asdict(self.untagged)
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
    """How often examples of one true label are misclassified; ``lift`` is that rate over the split's."""

    label: Any
    examples: int
    errors: int
    error_rate: float
    lift: float = 0.0

    @property
    def hot(self) -> bool:
        """Erred on far more often than the split as a whole: worth a look first."""
        return self.lift >= HOT_LIFT


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


def _class_metrics(
    names: list[Any], matrix: np.ndarray
) -> tuple[tuple[ClassMetrics, ...], dict[str, float], dict[str, float]]:
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


@dataclass(frozen=True)
class TagTally:
    """Tags of the misclassified examples: errors per category, errors with any tag, with a category."""

    counts: Counter[str]
    tagged: int
    categorised: int


def tally_tags(tags_of_errors: Iterable[Collection[str]]) -> TagTally:
    """Count the tags of the misclassified examples (one collection of tag names per error).

    ``REVIEWED`` makes an error reviewed (tagged) without counting as a category.
    """
    counts: Counter[str] = Counter()
    tagged = categorised = 0
    for tags in tags_of_errors:
        names = set(tags)
        categories = names - {REVIEWED}
        tagged += bool(names)
        categorised += bool(categories)
        counts.update(categories)
    return TagTally(counts=counts, tagged=tagged, categorised=categorised)


def _tags_of_errors(
    is_error: np.ndarray, tags_by_index: Mapping[int, Collection[str]]
) -> list[Collection[str]]:
    """The tags of each misclassified example among ``tags_by_index`` (tags of correct ones are ignored)."""
    indexes = list(tags_by_index)
    for index in indexes:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ValueError(f"tags_by_index keys must be example indexes, but got {index=}")
        if not 0 <= index < len(is_error):
            raise ValueError(f"tags_by_index keys must be in [0, {len(is_error)}), but got {index=}")
    hits = is_error[np.asarray(indexes, dtype=np.intp)].tolist() if indexes else []
    return [tags_by_index[index] for index, hit in zip(indexes, hits, strict=True) if hit]


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
    return _analysis(names, matrix, tally_tags(_tags_of_errors(y != p, tags_by_index or {})))


def analyse_confusion(cells: Mapping[tuple[Any, Any], int], tags: TagTally) -> ErrorAnalysis:
    """The same counts as ``analyse_errors`` from pre-aggregated numbers (what a GROUP BY returns).

    Args:
        cells: Number of examples per (true label, predicted label).
        tags: ``tally_tags`` of the misclassified examples' tags.
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
    if not 0 <= tags.tagged <= errors:
        raise ValueError(f"tagged errors cannot exceed the errors, but got tagged={tags.tagged} of {errors=}")
    if not 0 <= tags.categorised <= tags.tagged or any(n > tags.categorised for n in tags.counts.values()):
        raise ValueError(f"tag counts cannot exceed the tagged errors, but got {tags=}")
    return _analysis(names, matrix, tags)


def _analysis(names: list[Any], matrix: np.ndarray, tags: TagTally) -> ErrorAnalysis:
    examples = int(matrix.sum())
    errors = examples - int(np.trace(matrix))
    reviewed = tags.tagged  # any tag means a person looked at the error

    def share(count: int, reviewed_count: int | None) -> ErrorShare:
        return error_share(
            count, errors=errors, examples=examples, reviewed_count=reviewed_count, reviewed=reviewed
        )

    ranked = [
        (tag, n) for tag, n in sorted(tags.counts.items(), key=lambda item: (-item[1], item[0])) if n > 0
    ]
    summed = sum(n for _, n in ranked)
    running = 0
    by_tag_list = []
    for tag, n in ranked:
        running += n
        by_tag_list.append(TagCount(**asdict(share(n, n)), tag=tag, cumulative_share=running / summed))
    by_tag = tuple(by_tag_list)
    per_class, macro, weighted = _class_metrics(names, matrix)
    return ErrorAnalysis(
        examples=examples,
        errors=errors,
        error_rate=errors / examples if examples else 0.0,
        tagged_errors=reviewed,
        untagged_errors=errors - reviewed,
        reviewed_errors=reviewed,
        by_tag=by_tag,
        other=share(reviewed - tags.categorised, reviewed - tags.categorised),
        untagged=share(errors - reviewed, None),
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
    return _class_rates(names, examples.tolist(), errors.tolist())


def error_rate_by_class_of(analysis: ErrorAnalysis) -> tuple[ClassErrorRate, ...]:
    """Error rate of each true label, read off an analysis's confusion matrix (its rows)."""
    matrix = analysis.confusion_matrix
    examples = [sum(row) for row in matrix]
    errors = [sum(row) - row[i] for i, row in enumerate(matrix)]
    return _class_rates(list(analysis.confusion_labels), examples, errors)


def _class_rates(
    names: Sequence[Any], examples: Sequence[int], errors: Sequence[int]
) -> tuple[ClassErrorRate, ...]:
    total = sum(examples)
    overall = sum(errors) / total if total else 0.0
    return tuple(
        ClassErrorRate(name, int(n), int(e), e / n, (e / n) / overall if overall else 0.0)
        for name, n, e in zip(names, examples, errors, strict=True)
        if n > 0
    )


def _as_float_array(values: Sequence[float] | npt.NDArray[Any], name: str) -> npt.NDArray[np.float64]:
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


def precision_recall_curve(
    labels01: Sequence[int] | npt.NDArray[Any], scores: Sequence[float] | npt.NDArray[Any]
) -> PrecisionRecallCurve:
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
