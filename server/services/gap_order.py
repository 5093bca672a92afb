"""Sort runs by a bias/variance gap in SQL, so that sorting holds across pages of a long runs table."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select

from server.diagnosis import GAPS
from server.tables import Project, Run, RunSummary


def _latest(key: str) -> ColumnElement[float]:
    return (
        select(RunSummary.value)
        .where(RunSummary.run_id == Run.id, RunSummary.key == key)
        .correlate(Run)
        .scalar_subquery()
    )


def gap_expression(key: str) -> ColumnElement[float] | None:
    """The gap ``key`` (server.diagnosis.GAPS) of each run as a SQL expression; None for other keys.

    Mirrors server.diagnosis.compute_gaps: without a train-dev error, variance is dev - train. A gap whose
    two rungs are not both logged is NULL, so those runs sort last.
    """
    if key not in GAPS:
        return None
    train, train_dev, dev, test = (
        _latest(k) for k in ("train_error", "train_dev_error", "dev_error", "test_error")
    )
    if key == "avoidable_bias":
        human = select(Project.human_level_error).where(Project.id == Run.project_id).correlate(Run)
        return train - human.scalar_subquery()
    if key == "variance":
        return func.coalesce(train_dev, dev) - train
    if key == "data_mismatch":
        return dev - train_dev
    return test - dev
