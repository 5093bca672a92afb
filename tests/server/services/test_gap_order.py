"""The SQL gap used to sort the run list says what the diagnosis's compute_gaps says, on both databases."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.diagnosis import GAPS, compute_gaps, ladder_from_summary
from server.services import runs
from server.services.runs.gap_order import gap_expression
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


def _random_summary(rng: random.Random) -> dict[str, float]:
    """Each rung missing, a fraction (0 and 1 included) or a percentage logged before keys were checked."""
    summary = {}
    for rung in ("train_error", "train_dev_error", "dev_error", "test_error"):
        kind = rng.choice(("missing", "fraction", "fraction", "bound", "percentage"))
        if kind == "fraction":
            summary[rung] = round(rng.random(), 2)
        elif kind == "bound":
            summary[rung] = float(rng.choice((0, 1)))
        elif kind == "percentage":
            summary[rung] = round(rng.uniform(1.01, 100.0), 1)
    return summary


@pytest.mark.parametrize("seed", [7, 8])
def test_random_runs_sort_by_each_gap_as_compute_gaps_reads_them(session: Session, seed: int) -> None:
    """Random runs, many with percentages: the SQL gap equals compute_gaps for every run, and the run list
    sorted by a gap puts the runs whose gap shows "-" (unknown) last, whichever the direction."""
    rng = random.Random(seed)
    human_level_error = rng.choice((None, 0.02, 4.0))
    project = make_project(session, human_level_error=human_level_error)
    summaries = {}
    for _ in range(40):
        run = make_run(session, project)
        values = _random_summary(rng)
        session.add_all(RunSummary(run_id=run.id, key=k, step=1, value=v) for k, v in values.items())
        summaries[run.id] = values
    session.commit()
    for gap in GAPS:
        python = {
            run_id: compute_gaps(ladder_from_summary(human_level_error, values))[gap]
            for run_id, values in summaries.items()
        }
        expression = gap_expression(gap)
        assert expression is not None
        sql = dict(session.execute(select(Run.id, expression).where(Run.project_id == project.id)).all())
        for run_id, expected in python.items():
            assert sql[run_id] == (None if expected is None else pytest.approx(expected, abs=1e-9)), (
                gap,
                summaries[run_id],
            )
        for sort in (gap, f"-{gap}"):
            page = runs.list_runs(
                session=session, project_id=project.id, status=None, sort=sort, limit=100, offset=0
            )
            shown = [python[item.id] for item in page.items]
            known = [value for value in shown if value is not None]
            assert shown == known + [None] * (len(shown) - len(known)), sort  # "-" last
            ordered = sorted(known, reverse=sort.startswith("-"))
            assert known == pytest.approx(ordered, abs=1e-9), sort
