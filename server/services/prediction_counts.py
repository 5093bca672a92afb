"""Counts of a run's predictions per (label, predicted, confidence bin), refreshed whenever they change.

The confusion matrix, the confidence bins and the table's totals are sums over these rows (at most
classes x classes x 11), so the error-analysis page never groups 100,000 predictions per request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Case, SQLColumnExpression, case, delete, func, insert, select
from sqlalchemy.orm import Session

from server.services.prediction_tasks import task_is
from server.tables import Prediction, PredictionCount

CONFIDENCE_BINS = 10
NO_CONFIDENCE = -1


@dataclass(frozen=True)
class CountCell:
    """Predictions sharing a true label, a predicted label and a confidence bin."""

    label: str
    predicted: str
    confidence_bin: int
    n: int
    confidence_sum: float

    @property
    def is_error(self) -> bool:
        return self.label != self.predicted


def confidence_bin(confidence: SQLColumnExpression[float | None]) -> Case[int]:
    """floor(confidence * CONFIDENCE_BINS) clipped to the top bin, NO_CONFIDENCE where missing.

    A CASE ladder, because CAST rounds on PostgreSQL and truncates on SQLite.
    """
    steps = [(confidence >= i / CONFIDENCE_BINS, i) for i in range(CONFIDENCE_BINS - 1, 0, -1)]
    return case((confidence.is_(None), NO_CONFIDENCE), *steps, else_=0)


def refresh_prediction_counts(*, session: Session, run_id: int, split: str, task: str | None) -> None:
    """Recount the run's predictions of the split and task (call after any change to them, in the same
    transaction)."""
    session.execute(
        delete(PredictionCount).where(
            PredictionCount.run_id == run_id,
            PredictionCount.split == split,
            task_is(PredictionCount.task, task),
        )
    )
    bin_ = confidence_bin(Prediction.confidence)
    grouped = (
        select(
            Prediction.run_id,
            Prediction.split,
            Prediction.task,
            Prediction.label,
            Prediction.predicted,
            bin_,
            func.count(),
            func.sum(Prediction.confidence),
        )
        .where(Prediction.run_id == run_id, Prediction.split == split, task_is(Prediction.task, task))
        .group_by(
            Prediction.run_id, Prediction.split, Prediction.task, Prediction.label, Prediction.predicted, bin_
        )
    )
    columns = ["run_id", "split", "task", "label", "predicted", "confidence_bin", "n", "confidence_sum"]
    session.execute(insert(PredictionCount).from_select(columns, grouped))


def prediction_counts(*, session: Session, run_id: int, split: str, task: str | None) -> list[CountCell]:
    """The stored counts of the run's predictions of the split and task (None: a single-task run's)."""
    rows = session.execute(
        select(
            PredictionCount.label,
            PredictionCount.predicted,
            PredictionCount.confidence_bin,
            PredictionCount.n,
            PredictionCount.confidence_sum,
        ).where(
            PredictionCount.run_id == run_id,
            PredictionCount.split == split,
            task_is(PredictionCount.task, task),
        )
    )
    return [CountCell(y, p, b, int(n), float(s or 0.0)) for y, p, b, n, s in rows]


def count_errors(cells: list[CountCell], *, label: str | None = None, predicted: str | None = None) -> int:
    """How many of `cells`' predictions are wrong, optionally only those with this label or prediction."""
    return sum(
        c.n
        for c in cells
        if c.is_error
        and (label is None or c.label == label)
        and (predicted is None or c.predicted == predicted)
    )


__all__ = [
    "CONFIDENCE_BINS",
    "CountCell",
    "confidence_bin",
    "count_errors",
    "prediction_counts",
    "refresh_prediction_counts",
]
