"""The rollups and summaries kept on write equal a recount from the raw points, on SQLite and PostgreSQL.

The tie rule (a tie on the minimum keeps the earlier step, on the maximum the later) is written three times:
the Python merge of a batch (rollups._merge), the merge into stored rows (ROLLUP_ON_CONFLICT, both
databases) and PostgreSQL's array aggregation of a batch that re-sends stored points. Batches here tie
within a batch, across batches, arrive out of step order and re-send stored points, so each copy is used."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.schemas import MetricPointIn
from server.services.metrics import ROLLUP_WIDTHS, ingest_metrics
from server.services.metrics.rollups import latest, rollups
from server.tables import MetricPoint, MetricRollup, RunSummary
from tests.factories import make_project, make_run

# Few distinct values, so that minima and maxima tie often; steps cross the 64- and 1024-step buckets.
VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)


def _batch(rng: random.Random, steps: list[int], keys: tuple[str, ...]) -> list[MetricPointIn]:
    return [MetricPointIn(key=k, step=s, value=rng.choice(VALUES)) for s in steps for k in keys]


def _recount(session: Session, run_id: int) -> tuple[set[tuple], dict[str, tuple[int, float]]]:
    """The rollup rows and summaries computed afresh from every stored point, in step order."""
    points = session.execute(
        select(MetricPoint.key, MetricPoint.step, MetricPoint.value)
        .where(MetricPoint.run_id == run_id)
        .order_by(MetricPoint.key, MetricPoint.step)
    ).all()
    return set(rollups(points, ROLLUP_WIDTHS)), latest(points)


def _kept(session: Session, run_id: int) -> tuple[set[tuple], dict[str, tuple[int, float]]]:
    columns = MetricRollup.__table__.c
    rows = session.execute(
        select(
            columns.key, columns.width, columns.bucket, columns.n,
            columns.min_step, columns.min_value, columns.max_step, columns.max_value,
        ).where(columns.run_id == run_id)
    ).all()  # fmt: skip
    summaries = session.execute(
        select(RunSummary.key, RunSummary.step, RunSummary.value).where(RunSummary.run_id == run_id)
    ).all()
    return {tuple(row) for row in rows}, {key: (step, value) for key, step, value in summaries}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_kept_on_write_equal_a_recount_of_the_points(session: Session, seed: int) -> None:
    rng = random.Random(seed)
    run = make_run(session, make_project(session), status="running")
    keys = ("loss", "dev_error")
    batches = [
        list(range(0, 300)),  # several 64-step buckets, ties inside the batch
        list(range(300, 700)),  # same 1024-step bucket as the first: ties across batches
        list(range(2000, 2100)),  # a later bucket first ...
        list(range(1500, 1600)),  # ... then an earlier one: out of step order
        rng.sample(range(0, 700), 150) + list(range(700, 800)),  # re-sent points (new values) and new ones
        list(range(60, 70)) + [4096 * 16 + 5],  # only re-sent points, and one far away
    ]
    for steps in batches:
        ingest_metrics(session=session, run_id=run.id, points=_batch(rng, steps, keys))
    kept, recount = _kept(session, run.id), _recount(session, run.id)
    assert kept[1] == recount[1]  # summaries
    missing, extra = recount[0] - kept[0], kept[0] - recount[0]
    assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])


def test_a_tie_across_batches_moves_the_maximum_to_the_later_step_and_keeps_the_earlier_minimum(
    session: Session,
) -> None:
    """What a chart shows: the flat top of a curve is drawn at its last step, its flat bottom at its first,
    however the points were batched."""
    run = make_run(session, make_project(session), status="running")
    width = ROLLUP_WIDTHS[0]  # every step below falls in its first bucket
    for steps in ([width // 2, width // 2 + 1], [width - 4, width - 3], [1]):
        points = [MetricPointIn(key="acc", step=s, value=0.5 if s % 2 else 0.9) for s in steps]
        ingest_metrics(session=session, run_id=run.id, points=points)
    row = session.execute(
        select(MetricRollup.min_step, MetricRollup.max_step).where(
            MetricRollup.run_id == run.id, MetricRollup.width == ROLLUP_WIDTHS[0]
        )
    ).one()
    # The minimum 0.5 at its first step, 1, which came last; the maximum 0.9 at its last even step.
    assert tuple(row) == (1, width - 4)
