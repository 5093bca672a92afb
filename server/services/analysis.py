"""Diagnosis and error analysis of one run: load its numbers, hand them to the pure maths."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.datasets import get_dataset
from server.diagnosis import Diagnosis, ErrorLadder, diagnose
from server.error_analysis import ErrorAnalysis, analyse_errors
from server.services.predictions import label_out
from server.services.runs import get_run
from server.tables import ExampleTag, Prediction, Tag

LADDER_KEYS = ("train_error", "train_dev_error", "dev_error", "test_error")


def _fraction(value: float | None) -> float | None:
    # A script may log a percentage under a canonical key; the diagnosis ignores what is no fraction.
    if value is None or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return None
    return value


def diagnose_run(*, session: Session, run_id: int) -> Diagnosis:
    """Bias, variance, data mismatch and dev overfitting of the run's latest errors."""
    run = get_run(session=session, run_id=run_id)
    summary = {s.key: s.value for s in run.summaries}
    ladder = ErrorLadder(
        human_level_error=_fraction(run.project.human_level_error),
        **{key: _fraction(summary.get(key)) for key in LADDER_KEYS},
    )
    dataset = get_dataset(run.project.dataset)
    return diagnose(ladder, run.config, dataset_kind=dataset.kind if dataset else None)


def analyse_run_errors(*, session: Session, run_id: int, split: str) -> ErrorAnalysis:
    """Counts per tag with their ceilings, per-class precision/recall/F1 and the confusion matrix."""
    run = get_run(session=session, run_id=run_id)
    rows = session.execute(
        select(Prediction.example_id, Prediction.label, Prediction.predicted).where(
            Prediction.run_id == run_id, Prediction.split == split
        )
    ).all()
    index = {example_id: i for i, (example_id, _, _) in enumerate(rows)}
    tag_rows = session.execute(
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
    tags_by_index: dict[int, list[str]] = {}
    for example_id, name in tag_rows:
        tags_by_index.setdefault(index[example_id], []).append(name)
    labels: list[Any] = [label_out(r[1]) for r in rows]
    predicted: list[Any] = [label_out(r[2]) for r in rows]
    return analyse_errors(labels, predicted, tags_by_index)
