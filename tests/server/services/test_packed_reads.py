"""PostgreSQL reads chart series through server.services.metrics.packed (a statement per read, each series'
numbers packed into one value); every other database, and PostgreSQL with `with_time`, reads rows. Both
must give the same answer: here each read is made both ways on the same data, on SQLite and PostgreSQL,
across the raw and rollup rules, after_step, legacy runs, ties and extreme values."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from server.schemas import MetricPointIn
from server.services.metrics import ingest_metrics, series
from server.services.metrics.rollups import LEGACY_ROLLUP_WIDTHS, ROLLUP_WIDTHS
from server.tables import MetricRollup
from tests.factories import make_project, make_run


def _values(length: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 4, length).astype(float)  # few distinct values: ties in most buckets
    if length > 10:  # extremes whose text form is long (the row reads parse it, the packed ones do not)
        values[rng.integers(0, length)] = -1.7976931348623157e308
        values[rng.integers(0, length)] = 5e-324
        values[rng.integers(0, length)] = 0.1 + 0.2
    return values.tolist()


def _log(session: Session, run_id: int, lengths: dict[str, tuple[int, int]]) -> None:
    """Key -> (points, stride), logged in batches that split buckets, out of step order."""
    points = [
        MetricPointIn(key=key, step=i * stride, value=value)
        for seed, (key, (length, stride)) in enumerate(lengths.items())
        for i, value in enumerate(_values(length, seed))
    ]
    order = np.random.default_rng(0).permutation(len(points))
    for start in range(0, len(points), 7_000):
        ingest_metrics(
            session=session, run_id=run_id, points=[points[i] for i in order[start : start + 7_000]]
        )


def _both_ways(
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    wanted: list[tuple[int, str]],
    max_points: int | None,
    after_step: int | None,
) -> tuple[bytes, bytes]:
    """The read's JSON as the database's own path gives it, and as the row reads give it."""
    connection = session.connection()
    usual = series.series_json(series.read_many(connection, wanted, max_points, after_step=after_step))
    with monkeypatch.context() as patch:
        patch.setattr(series, "PACKED_DIALECTS", frozenset())
        rows = series.series_json(series.read_many(connection, wanted, max_points, after_step=after_step))
    return usual, rows


LENGTHS = {
    "one": (1, 1),
    "short": (150, 1),
    "raw": (2_000, 3),
    "w16": (4_000, 1),
    "w64": (30_000, 1),
    "sparse": (9_000, 17),
}


def test_packed_reads_equal_the_row_reads(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(session)
    runs = [make_run(session, project, status="running").id for _ in range(2)]
    for run_id in runs:
        _log(session, run_id, LENGTHS)
    every = [(run_id, key) for run_id in runs for key in [*LENGTHS, "missing"]]
    for max_points in (4, 100, 2_000, None):
        wanted = every if max_points is not None else every[1:2]
        for after_step in (None, 0, 4_321, 10**9):
            usual, rows = _both_ways(
                session, monkeypatch, wanted, max_points=max_points, after_step=after_step
            )
            assert usual == rows, (max_points, after_step)
            after = -1 if after_step is None else after_step
            with_points = [
                k for _, k in wanted if k in LENGTHS and (LENGTHS[k][0] - 1) * LENGTHS[k][1] > after
            ]
            assert usual.count(b'"key"') == len(with_points)


@pytest.mark.parametrize("cut", ["all", "early"])
def test_packed_reads_equal_the_row_reads_for_runs_logged_before_the_new_widths(
    session: Session, monkeypatch: pytest.MonkeyPatch, cut: str
) -> None:
    run_id = make_run(session, make_project(session), status="running").id
    _log(session, run_id, {"long": (60_000, 1), "mid": (20_000, 1)})
    new = [w for w in ROLLUP_WIDTHS if w not in LEGACY_ROLLUP_WIDTHS]
    query = delete(MetricRollup).where(MetricRollup.run_id == run_id, MetricRollup.width.in_(new))
    if cut == "early":
        query = query.where(MetricRollup.bucket * MetricRollup.width < 10_000)
    session.execute(query)
    session.commit()
    wanted = [(run_id, "long"), (run_id, "mid")]
    for after_step in (None, 5, 30_000):
        usual, rows = _both_ways(session, monkeypatch, wanted, 500, after_step)
        assert usual == rows and usual.count(b'"key"') == (1 if after_step == 30_000 else 2)


def test_a_live_poll_reads_buckets_whatever_step_a_series_starts_at(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll (after_step) reads a series from its buckets when every width was kept from its first point.
    Epochs start at 1, most scripts' steps too: the check compared the first step's bucket by true
    division (1 / 10 = 0.1, no such bucket), so every such series fell back to reading raw points."""
    run_id = make_run(session, make_project(session), status="running").id
    starts = {"from0": 0, "from1": 1, "from7": 7}
    for key, start in starts.items():
        points = [MetricPointIn(key=key, step=start + i, value=float(i % 5)) for i in range(30_000)]
        ingest_metrics(session=session, run_id=run_id, points=points)
    wanted = [(run_id, key) for key in starts]
    for width in ROLLUP_WIDTHS:
        assert series._with_first_bucket(session.connection(), wanted, width) == set(wanted)
    read_raw = series._read_raw
    raw: list[series.SeriesId] = []
    monkeypatch.setattr(series, "_read_raw", lambda c, w, *a, **k: raw.extend(w) or read_raw(c, w, *a, **k))
    answer = series.read_many(session.connection(), wanted, 500, after_step=5)
    assert raw == [] and len(answer) == 3
    # A width added after the series began lacks the bucket of its first point: that series is read whole
    # another way.
    session.execute(
        delete(MetricRollup).where(
            MetricRollup.run_id == run_id, MetricRollup.key == "from1", MetricRollup.bucket == 0
        )
    )
    for width in ROLLUP_WIDTHS:
        assert series._with_first_bucket(session.connection(), wanted, width) == set(wanted) - {
            (run_id, "from1")
        }
