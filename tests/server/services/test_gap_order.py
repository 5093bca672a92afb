"""The SQL gap used to sort the run list says what the diagnosis's compute_gaps says, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.diagnosis import GAPS, compute_gaps, ladder_from_summary
from server.services.gap_order import gap_expression
from server.tables import Run, RunSummary
from tests.factories import make_project, make_run

# Summaries that exercise every branch: missing rungs, a train-dev error, percentages stored before error
# keys were checked on the way in (8.0 must count as unknown in both twins), and the bounds 0 and 1.
SUMMARIES = [
    {},
    {"train_error": 0.15, "dev_error": 0.16},
    {"train_error": 0.02, "train_dev_error": 0.03, "dev_error": 0.10, "test_error": 0.12},
    {"train_error": 0.0, "dev_error": 1.0, "test_error": 0.5},
    {"train_error": 0.02, "train_dev_error": 8.0, "dev_error": 0.09},
    {"train_error": 7.0, "dev_error": 0.09, "test_error": 0.1},
    {"dev_error": 0.2, "test_error": 0.25},
    {"train_error": 0.3},
]


@pytest.mark.parametrize("human_level_error", [None, 0.01, 0.5, 3.0])
def test_gap_expression_equals_compute_gaps(session: Session, human_level_error: float | None) -> None:
    project = make_project(session, human_level_error=human_level_error)
    summaries = {}
    for values in SUMMARIES:
        run = make_run(session, project)
        session.add_all(RunSummary(run_id=run.id, key=k, step=1, value=v) for k, v in values.items())
        summaries[run.id] = values
    session.commit()
    for gap in GAPS:
        expression = gap_expression(gap)
        assert expression is not None
        rows = dict(session.execute(select(Run.id, expression).where(Run.project_id == project.id)).all())
        python = {
            run_id: compute_gaps(ladder_from_summary(human_level_error, values))[gap]
            for run_id, values in summaries.items()
        }
        assert rows.keys() == python.keys()
        for run_id, expected in python.items():
            if expected is None:
                assert rows[run_id] is None, (gap, summaries[run_id])
            else:
                assert rows[run_id] == pytest.approx(expected, abs=1e-9), (gap, summaries[run_id])


def test_gap_expression_is_none_for_other_keys() -> None:
    assert gap_expression("dev_error") is None
