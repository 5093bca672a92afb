"""Chart reads at every length, many at once, and only what is new: the extremes survive, the batch
reads equal the one-key reads, `after_step` returns exactly the later points, and runs logged before
the current rollup widths still read whole (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from server.schemas import MetricPointIn, MetricSeries
from server.services.metrics import ingest_metrics
from server.services.metrics.rollups import LEGACY_ROLLUP_WIDTHS, ROLLUP_WIDTHS
from server.services.metrics.series import MAX_REQUESTED_POINTS, MAX_SERIES
from server.tables import MetricRollup
from tests.factories import make_project, make_run

# With 100 points asked for, these lengths cross every rule: raw, width 16, and coarser widths.
MAX_POINTS = 100
LENGTHS = (1, 2, 3, 150, 200, 201, 999, 1_000, 4_000, 20_000, 30_000)


def _series(length: int, stride: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps 0, stride, ... and a noisy curve with one spike and one dip at random places."""
    rng = np.random.default_rng(seed)
    steps = np.arange(length, dtype=np.int64) * stride
    values = np.exp(-np.arange(length) / max(1, length / 3)) + rng.normal(0, 0.01, length)
    if length > 2:
        values[rng.integers(0, length)] = 5.0
        values[rng.integers(0, length)] = -5.0
    return steps, values


def _log(session: Session, run_id: int, series: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    points = [
        MetricPointIn(key=key, step=int(s), value=float(v))
        for key, (steps, values) in series.items()
        for s, v in zip(steps, values, strict=True)
    ]
    for start in range(0, len(points), 50_000):
        ingest_metrics(session=session, run_id=run_id, points=points[start : start + 50_000])


def _check_shape(answer: dict, steps: np.ndarray, values: np.ndarray, max_points: int) -> None:
    """At most max_points real points in step order, the first, last, minimum and maximum among them."""
    got = answer["points"]
    assert len(got) <= max_points
    got_steps = [s for s, _ in got]
    assert got_steps == sorted(set(got_steps))
    truth = dict(zip(steps.tolist(), values.tolist(), strict=True))
    assert all(truth[s] == v for s, v in got)  # real points, not averages
    kept = dict(got)
    assert got_steps[0] == steps[0] and got_steps[-1] == steps[-1]
    assert min(kept.values()) == values.min() and max(kept.values()) == values.max()
    assert answer["total_points"] == len(steps)
    assert answer["downsampled"] is (len(steps) > max_points)


@pytest.fixture
def run_id(session: Session) -> int:
    return make_run(session, make_project(session), status="running").id


@pytest.fixture
def many(session: Session, run_id: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One key per length, dense and (for some) every 7th step, logged together."""
    series = {f"len{n}": _series(n, 1, n) for n in LENGTHS}
    series |= {f"sparse{n}": _series(n, 7, n + 1) for n in (500, 3_000)}
    _log(session, run_id, series)
    return series


def test_extremes_survive_at_every_length_read_all_at_once(
    client: TestClient, run_id: int, many: dict
) -> None:
    keys = ",".join(many)
    response = client.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": keys, "max_points": MAX_POINTS})
    assert response.status_code == 200
    answers = {s["key"]: s for s in response.json()["series"]}
    assert list(answers) == list(many)  # every key, in the order asked
    for key, (steps, values) in many.items():
        _check_shape(answers[key], steps, values, MAX_POINTS)
    # A long series keeps a resolution near what was asked for, not a handful of points.
    assert len(answers["len30000"]["points"]) >= MAX_POINTS // 5
    assert len(answers["len20000"]["points"]) >= MAX_POINTS // 5


def test_the_batch_read_equals_the_one_key_reads(client: TestClient, run_id: int, many: dict) -> None:
    url = f"/api/v1/runs/{run_id}/metrics"
    for max_points in (MAX_POINTS, 2_000):
        batch = client.get(url, params={"keys": ",".join(many), "max_points": max_points}).json()["series"]
        one_by_one = [client.get(f"{url}/{key}", params={"max_points": max_points}).json() for key in many]
        assert batch == one_by_one
        # Both are written without the response model: each is what the model itself would write.
        for answer in one_by_one:
            assert MetricSeries.model_validate(answer).model_dump(mode="json", exclude_none=True) == answer
    # Without max_points, one series comes back whole.
    whole = client.get(url, params={"keys": "len4000"}).json()["series"]
    assert whole == [client.get(f"{url}/len4000").json()] and len(whole[0]["points"]) == 4_000


def test_a_key_without_points_is_left_out_of_the_batch(client: TestClient, run_id: int, many: dict) -> None:
    answer = client.get(
        f"/api/v1/runs/{run_id}/metrics", params={"keys": "nope,len150", "max_points": MAX_POINTS}
    ).json()
    assert [s["key"] for s in answer["series"]] == ["len150"]
    assert client.get(f"/api/v1/runs/{run_id}/metrics").json() == sorted(many)  # the list, as before


def test_after_step_returns_exactly_the_later_points(client: TestClient, run_id: int, many: dict) -> None:
    url = f"/api/v1/runs/{run_id}/metrics"
    for key in ("len1000", "len20000", "len30000", "sparse3000"):
        steps, values = many[key]
        for share in (0.0, 0.3, 0.5, 0.999, 1.0):
            after = int(steps[int(share * (len(steps) - 1))])
            later = steps > after
            # Whole: exactly the later points.
            whole = client.get(f"{url}/{key}", params={"after_step": after}).json()
            expected = [[int(s), float(v)] for s, v in zip(steps[later], values[later], strict=True)]
            assert whole["points"] == expected
            # Reduced: within max_points, keeping the later points' shape (a long backlog: rollups).
            params = {"keys": key, "max_points": MAX_POINTS, "after_step": after}
            reduced = client.get(url, params=params).json()
            if later.any():
                _check_shape(reduced["series"][0], steps[later], values[later], MAX_POINTS)
            else:
                assert reduced["series"] == []


def test_after_the_last_step_nothing_comes(client: TestClient, run_id: int, many: dict) -> None:
    last = int(many["len999"][0][-1])
    answer = client.get(f"/api/v1/runs/{run_id}/metrics/len999", params={"after_step": last}).json()
    assert answer == {"key": "len999", "points": [], "downsampled": False, "total_points": 0}
    assert client.get(f"/api/v1/runs/{run_id}/metrics/nope").status_code == 404


@pytest.mark.parametrize("cut", ["all", "early"])
def test_a_run_logged_before_the_new_widths_still_reads_whole(
    client: TestClient, session: Session, run_id: int, many: dict, cut: str
) -> None:
    """`all`: the run has only the widths of its time; `early`: the new widths were added mid-run, so
    they lack its first points. Either way nothing is missing from the chart."""
    new = [w for w in ROLLUP_WIDTHS if w not in LEGACY_ROLLUP_WIDTHS]
    query = delete(MetricRollup).where(MetricRollup.run_id == run_id, MetricRollup.width.in_(new))
    if cut == "early":
        query = query.where(MetricRollup.bucket * MetricRollup.width < 10_000)
    session.execute(query)
    session.commit()
    answer = client.get(
        f"/api/v1/runs/{run_id}/metrics", params={"keys": ",".join(many), "max_points": MAX_POINTS}
    ).json()
    for series in answer["series"]:
        _check_shape(series, *many[series["key"]], MAX_POINTS)
    for key in ("len20000", "len30000"):
        steps, values = many[key]
        later = steps > 5
        tail = client.get(
            f"/api/v1/runs/{run_id}/metrics/{key}", params={"max_points": MAX_POINTS, "after_step": 5}
        ).json()
        _check_shape(tail, steps[later], values[later], MAX_POINTS)


def test_many_runs_at_once_for_the_compare_page(client: TestClient, session: Session) -> None:
    project = make_project(session)
    ids, logged = [], {}
    for n in (10, 3_000, 20_000):
        run_id = make_run(session, project, status="running").id
        dev, train = _series(n, 1, n), _series(n // 2 + 1, 2, n + 5)
        # Error rates are fractions in [0, 1]: the curves, spikes and dips scaled into that range.
        logged[run_id] = {
            "dev_error": (dev[0], (dev[1] + 5) / 11),
            "train_error": (train[0], (train[1] + 5) / 11),
        }
        _log(session, run_id, logged[run_id])
        ids.append(run_id)
    answer = client.get(
        "/api/v1/metrics",
        params={"run_ids": ",".join(map(str, ids)), "keys": "dev_error,train_error", "max_points": 200},
    )
    assert answer.status_code == 200
    series = answer.json()["series"]
    assert [(s["run_id"], s["key"]) for s in series] == [
        (r, k) for r in ids for k in ("dev_error", "train_error")
    ]
    for each in series:
        one = client.get(
            f"/api/v1/runs/{each['run_id']}/metrics/{each['key']}", params={"max_points": 200}
        ).json()
        assert {k: v for k, v in each.items() if k != "run_id"} == one
        _check_shape(each, *logged[each["run_id"]][each["key"]], 200)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"keys": "a,b c"}, "keys"),
        ({"keys": ",".join(f"k{i}" for i in range(MAX_SERIES + 1)), "max_points": 100}, "keys"),
        ({"keys": "a,b", "max_points": MAX_REQUESTED_POINTS // 2 + 1}, "max_points"),
        ({"keys": "a,b"}, "max_points"),
        ({"keys": "a", "max_points": 1}, "max_points"),
        ({"keys": "a", "max_points": 100, "after_step": -1}, "after_step"),
        ({"keys": ",", "max_points": 100}, "keys"),
    ],
)
def test_bad_batch_reads_are_422_naming_the_field(
    client: TestClient, run_id: int, params: dict, field: str
) -> None:
    response = client.get(f"/api/v1/runs/{run_id}/metrics", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"run_ids": "{run},x", "keys": "a"}, 422, "run_ids"),
        ({"run_ids": "", "keys": "a", "max_points": 10}, 422, "run_ids"),
        ({"run_ids": "{run}", "keys": "a", "max_points": 10**5}, 200, None),
        ({"run_ids": ",".join(str(i) for i in range(1, 12)), "keys": "a,b,c,d,e,f,g,h,i,j"}, 422, "keys"),
        ({"run_ids": "999999", "keys": "a", "max_points": 10}, 404, None),
    ],
)
def test_bad_cross_run_reads_are_refused_naming_the_field(
    client: TestClient, run_id: int, params: dict, status: int, field: str | None
) -> None:
    params = {k: str(v).replace("{run}", str(run_id)) for k, v in params.items()}
    response = client.get("/api/v1/metrics", params=params)
    assert response.status_code == status, response.text
    if field:
        assert response.json()["detail"][0]["loc"][-1] == field
