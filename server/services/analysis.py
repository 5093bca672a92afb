"""Diagnosis and error analysis of one run: load its numbers, hand them to the pure maths."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.datasets import get_dataset
from server.diagnosis import Diagnosis, ErrorLadder, compute_gaps, diagnose
from server.error_analysis import ErrorAnalysis, analyse_confusion, tally_tags
from server.services.prediction_counts import prediction_counts
from server.services.predictions import label_out
from server.services.runs import get_run
from server.tables import ExampleTag, Prediction, Tag

LADDER_KEYS = ("train_error", "train_dev_error", "dev_error", "test_error")


def _fraction(value: float | None) -> float | None:
    # A script may log a percentage under a canonical key; the diagnosis ignores what is no fraction.
    if value is None or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return None
    return value


def error_ladder(human_level_error: float | None, summary: Mapping[str, float]) -> ErrorLadder:
    """The ladder of a run from its project's human-level error and its summary metrics."""
    return ErrorLadder(
        human_level_error=_fraction(human_level_error),
        **{key: _fraction(summary.get(key)) for key in LADDER_KEYS},
    )


def run_gaps(human_level_error: float | None, summary: Mapping[str, float]) -> dict[str, float | None]:
    """Avoidable bias, variance, data mismatch and dev overfitting of one run (None where unknown)."""
    return compute_gaps(error_ladder(human_level_error, summary))


def diagnose_run(*, session: Session, run_id: int) -> Diagnosis:
    """Bias, variance, data mismatch and dev overfitting of the run's latest errors."""
    run = get_run(session=session, run_id=run_id)
    ladder = error_ladder(run.project.human_level_error, {s.key: s.value for s in run.summaries})
    dataset = get_dataset(run.project.dataset, session=session)
    return diagnose(ladder, run.config, dataset_kind=dataset.kind if dataset else None)


def analyse_run_errors(*, session: Session, run_id: int, split: str) -> ErrorAnalysis:
    """Counts per tag with their ceilings, per-class precision/recall/F1 and the confusion matrix."""
    run = get_run(session=session, run_id=run_id)
    # The stored counts: at most k x k x 11 rows, however many predictions the split has.
    cells: dict[tuple[int | str, int | str], int] = {}
    for cell in prediction_counts(session=session, run_id=run_id, split=split):
        key = (label_out(cell.label), label_out(cell.predicted))
        cells[key] = cells.get(key, 0) + cell.n
    # One pass over the tagged errors (the project's tags joined to the predictions' primary key).
    rows = session.execute(
        select(ExampleTag.example_id, Tag.name)
        .join(Tag, Tag.id == ExampleTag.tag_id)
        .join(
            Prediction,
            (Prediction.example_id == ExampleTag.example_id)
            & (Prediction.run_id == run_id)
            & (Prediction.split == split),
        )
        .where(ExampleTag.project_id == run.project_id, Prediction.is_error.is_(True))
    ).all()
    tags_of_errors: dict[str, list[str]] = defaultdict(list)
    for example_id, name in rows:
        tags_of_errors[example_id].append(name)
    return analyse_confusion(cells, tally_tags(tags_of_errors.values()))
