"""Sort runs by a bias/variance gap in SQL, so that sorting holds across pages of a long runs table.

The SQL twin of server.diagnosis.compute_gaps over server.diagnosis.ladder_from_summary (pinned to them by
tests/server/services/test_gap_order.py on both databases): a rung outside [0, 1] is unknown, and without a
human-level error Bayes error is taken as 0.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, case, func, literal, select

from server.diagnosis import GAPS
from server.tables import Project, Run, RunSummary


def _fraction(value: ColumnElement[float]) -> ColumnElement[float]:
    """The value when it is an error rate in [0, 1], else NULL (as ``diagnosis.ladder_from_summary``)."""
    return case((value.between(0.0, 1.0), value), else_=None)


def _latest(key: str) -> ColumnElement[float]:
    return _fraction(
        select(RunSummary.value)
        .where(RunSummary.run_id == Run.id, RunSummary.key == key)
        .correlate(Run)
        .scalar_subquery()
    )


def gap_expression(key: str) -> ColumnElement[float] | None:
    """The gap ``key`` (server.diagnosis.GAPS) of each run as a SQL expression; None for other keys.

    Without a train-dev error, variance is dev - train. A gap whose two rungs are not both logged is NULL,
    so those runs sort last.
    """
    if key not in GAPS:
        return None
    train, train_dev, dev, test = (
        _latest(k) for k in ("train_error", "train_dev_error", "dev_error", "test_error")
    )
    if key == "avoidable_bias":
        human = select(Project.human_level_error).where(Project.id == Run.project_id).correlate(Run)
        return train - func.coalesce(_fraction(human.scalar_subquery()), literal(0.0))
    if key == "variance":
        return func.coalesce(train_dev, dev) - train
    if key == "data_mismatch":
        return dev - train_dev
    return test - dev
