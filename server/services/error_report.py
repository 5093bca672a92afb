"""Beyond the counts: cohorts, slices of high error, the PR curve, and how two runs differ."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from server.error_analysis import (
    ClassErrorRate,
    ConfidenceBin,
    ErrorAnalysis,
    PrecisionRecallCurve,
    error_rate_by_class_of,
    precision_recall_curve,
)
from server.error_slices import ErrorSlice, error_slices
from server.services.examples import dataset_arrays
from server.services.prediction_counts import CONFIDENCE_BINS, NO_CONFIDENCE, prediction_counts
from server.services.prediction_tasks import prediction_tasks, resolve_task, task_is
from server.services.predictions import label_out, tags_of
from server.services.runs import get_run
from server.tables import Prediction

#: The tree is fit on every example of the split; beyond this many it would slow the page down.
MAX_SLICE_EXAMPLES = 50_000
CompareGroup = Literal["fixed", "newly_broken", "still_wrong"]
GROUPS: dict[str, tuple[bool, bool]] = {
    "fixed": (True, False),
    "newly_broken": (False, True),
    "still_wrong": (True, True),
}


@dataclass(frozen=True)
class ErrorCohorts:
    by_class: tuple[ClassErrorRate, ...]
    by_confidence: tuple[ConfidenceBin, ...]
    slices: tuple[ErrorSlice, ...]
    slices_note: str
    pr_curve: PrecisionRecallCurve | None


def _confidence_bins(
    session: Session, run_id: int, split: str, task: str | None
) -> tuple[ConfidenceBin, ...]:
    found: dict[int, tuple[int, int, float]] = {}
    for cell in prediction_counts(session=session, run_id=run_id, split=split, task=task):
        if cell.confidence_bin == NO_CONFIDENCE:
            continue
        n, e, s = found.get(cell.confidence_bin, (0, 0, 0.0))
        found[cell.confidence_bin] = (
            n + cell.n,
            e + (cell.n if cell.is_error else 0),
            s + cell.confidence_sum,
        )
    bins = []
    for i in range(CONFIDENCE_BINS):
        n, e, s = found.get(i, (0, 0, 0.0))
        bins.append(
            ConfidenceBin(
                i / CONFIDENCE_BINS,
                (i + 1) / CONFIDENCE_BINS,
                n,
                e,
                e / n if n else None,
                s / n if n else None,
            )
        )
    return tuple(bins)


def _slices(
    session: Session, run_id: int, split: str, task: str | None, dataset: str
) -> tuple[tuple[ErrorSlice, ...], str]:
    arrays = dataset_arrays(dataset)
    if arrays is None:
        return (), "Slices need the examples' features: only built-in datasets have them here."
    fetched = session.execute(
        select(Prediction.example_id, Prediction.is_error)
        .where(Prediction.run_id == run_id, Prediction.split == split, task_is(Prediction.task, task))
        .limit(MAX_SLICE_EXAMPLES + 1)
    ).all()
    rows = [(e, err) for e, err in fetched if e in arrays.row_of]
    if len(rows) > MAX_SLICE_EXAMPLES:
        return (), f"Too many examples for the slice finder (over {MAX_SLICE_EXAMPLES:,})."
    if not rows:
        return (), "No predictions on examples of this dataset."
    features = arrays.features()[[arrays.row_of[e] for e, _ in rows]]
    found = error_slices(features, [bool(err) for _, err in rows], arrays.feature_names, max_depth=3)
    return found, "" if found else "No slice: every example is right, or every one wrong."


def _pr_curve(session: Session, run_id: int, split: str, task: str | None) -> PrecisionRecallCurve | None:
    rows = session.execute(
        select(Prediction.label, Prediction.predicted, Prediction.confidence).where(
            Prediction.run_id == run_id,
            Prediction.split == split,
            task_is(Prediction.task, task),
            Prediction.confidence.is_not(None),
        )
    ).all()
    if not rows:
        return None
    labels = np.array([label_out(r[0]) == 1 for r in rows], dtype=int)
    predicted_positive = np.array([label_out(r[1]) == 1 for r in rows])
    confidence = np.array([r[2] for r in rows], dtype=float)
    # The confidence is the predicted class's probability; the positive class's score follows from it.
    scores = np.where(predicted_positive, confidence, 1.0 - confidence)
    return precision_recall_curve(labels, scores)


def error_cohorts(
    *, session: Session, run_id: int, split: str, analysis: ErrorAnalysis, task: str | None = None
) -> ErrorCohorts:
    """Error rate by true class and by confidence, slices of high error, and a binary problem's PR curve
    (of one task, for a multi-task run)."""
    run = get_run(session=session, run_id=run_id)
    task = resolve_task(session=session, run=run, task=task)
    slices, note = _slices(session, run_id, split, task, run.project.dataset)
    binary = set(analysis.confusion_labels) <= {0, 1} and len(analysis.confusion_labels) == 2
    return ErrorCohorts(
        by_class=error_rate_by_class_of(analysis),
        by_confidence=_confidence_bins(session, run_id, split, task),
        slices=slices,
        slices_note=note,
        pr_curve=_pr_curve(session, run_id, split, task) if binary else None,
    )


@dataclass(frozen=True)
class ComparedExample:
    example_id: str
    label: int | str
    predicted: int | str  # by the run
    other_predicted: int | str  # by the other run
    confidence: float | None  # the other run's
    tags: list[str]


@dataclass(frozen=True)
class RunComparisonPage:
    counts: dict[str, int]
    compared: int
    group: str
    total: int
    items: list[ComparedExample]


def compare_runs(
    *,
    session: Session,
    run_id: int,
    other_id: int,
    split: str,
    task: str | None = None,
    group: CompareGroup = "fixed",
    limit: int = 50,
    offset: int = 0,
) -> RunComparisonPage:
    """How examples changed from `run_id` to `other_id`: fixed, newly broken, still wrong.

    With `task`, one task of a multi-task run: the other run's predictions of the same task, or its only
    ones when it is a single-task run (a run trained on that task alone, say)."""
    run = get_run(session=session, run_id=run_id)
    other = get_run(session=session, run_id=other_id)
    task = resolve_task(session=session, run=run, task=task)
    other_task = task if task is not None and prediction_tasks(session=session, run=other) else None
    a, b = aliased(Prediction), aliased(Prediction)
    joined = and_(
        a.example_id == b.example_id, b.run_id == other_id, b.split == split, task_is(b.task, other_task)
    )
    base = (
        select()
        .select_from(a)
        .join(b, joined)
        .where(a.run_id == run_id, a.split == split, task_is(a.task, task))
    )
    pairs = session.execute(
        base.add_columns(a.is_error, b.is_error, func.count()).group_by(a.is_error, b.is_error)
    )
    by_pair = {(bool(x), bool(y)): int(n) for x, y, n in pairs}
    counts = {name: by_pair.get(pair, 0) for name, pair in GROUPS.items()}
    before, after = GROUPS[group]
    rows = session.execute(
        base.add_columns(a.example_id, a.label, a.predicted, b.predicted, b.confidence)
        .where(a.is_error.is_(before), b.is_error.is_(after))
        .order_by(b.confidence.desc().nulls_last(), a.example_id)
        .limit(limit)
        .offset(offset)
    ).all()
    tags = tags_of(session=session, project_id=run.project_id, example_ids=[r[0] for r in rows])
    items = [
        ComparedExample(e, label_out(y), label_out(p), label_out(q), c, tags.get(e, []))
        for e, y, p, q, c in rows
    ]
    return RunComparisonPage(
        counts=counts, compared=sum(by_pair.values()), group=group, total=counts[group], items=items
    )


def cohorts_to_dict(cohorts: ErrorCohorts) -> dict[str, Any]:
    """JSON-ready cohorts."""
    return {
        "by_class": [asdict(c) for c in cohorts.by_class],
        "by_confidence": [asdict(b) for b in cohorts.by_confidence],
        "slices": [{**asdict(s), "description": s.description} for s in cohorts.slices],
        "slices_note": cohorts.slices_note,
        "pr_curve": cohorts.pr_curve.to_dict() if cohorts.pr_curve else None,
    }


def comparison_to_dict(page: RunComparisonPage) -> dict[str, Any]:
    """JSON-ready comparison."""
    return asdict(page)
