"""`with_time=1` on the chart reads: each point's timestamp, for charts against wall-clock time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_project, make_run

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _stamp(step: int) -> str:
    return (START + timedelta(seconds=step * 0.5)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def run_id(session: Session) -> int:
    return make_run(session, make_project(session), status="running").id


def test_times_come_with_each_point_of_short_and_rolled_up_series(client: TestClient, run_id: int) -> None:
    url = f"/api/v1/runs/{run_id}/metrics"
    points = [{"key": "dev_error", "step": s, "value": 0.5 / s, "timestamp": _stamp(s)} for s in range(1, 6)]
    points += [
        {"key": "loss", "step": s, "value": 1 / (1 + s), "timestamp": _stamp(s)} for s in range(20_000)
    ]
    assert client.post(url, json={"metrics": points}).status_code == 200

    plain = client.get(url, params={"keys": "dev_error,loss", "max_points": 200}).json()
    assert all("times" not in series for series in plain["series"])  # opt-in only

    timed = client.get(url, params={"keys": "dev_error,loss", "max_points": 200, "with_time": 1}).json()
    by_key = {series["key"]: series for series in timed["series"]}
    for series in by_key.values():
        assert len(series["times"]) == len(series["points"])
        for (step, _), seconds in zip(series["points"], series["times"], strict=True):
            assert seconds == pytest.approx(START.timestamp() + step * 0.5)
    assert by_key["loss"]["downsampled"] is True  # the rolled-up read gets its times too

    after = client.get(
        url, params={"keys": "dev_error", "max_points": 50, "with_time": 1, "after_step": 3}
    ).json()
    assert after["series"][0]["times"] == [START.timestamp() + 2.0, START.timestamp() + 2.5]


def test_the_compare_read_takes_with_time_too(client: TestClient, session: Session) -> None:
    project = make_project(session)
    ids = [make_run(session, project, status="running").id for _ in range(2)]
    for run_id in ids:
        point = {"key": "acc", "step": 1, "value": 0.9, "timestamp": _stamp(4)}
        client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [point]})
    answer = client.get(
        "/api/v1/metrics",
        params={"run_ids": f"{ids[0]},{ids[1]}", "keys": "acc", "max_points": 10, "with_time": 1},
    ).json()
    assert [series["times"] for series in answer["series"]] == [[START.timestamp() + 2.0]] * 2


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"keys": "a", "with_time": 1}, "max_points: required with with_time"),
        ({"keys": "a,b,c", "max_points": 20_000, "with_time": 1}, "at most 16666 points per series"),
    ],
)
def test_timed_reads_stay_bounded(
    client: TestClient, run_id: int, params: dict[str, str | int], needle: str
) -> None:
    answer = client.get(f"/api/v1/runs/{run_id}/metrics", params=params)
    assert answer.status_code == 422
    assert needle in answer.text
