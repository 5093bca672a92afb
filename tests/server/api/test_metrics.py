import math
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.schemas import as_utc
from server.tables import MetricPoint
from tests.factories import make_project, make_run


@pytest.fixture
def run_id(session: Session) -> int:
    return make_run(session, make_project(session), status="running").id


def test_metrics_are_idempotent_per_key_and_step(client: TestClient, session: Session, run_id: int) -> None:
    points = [{"key": "dev_error", "step": s, "value": 1 / s} for s in range(1, 6)]
    url = f"/api/v1/runs/{run_id}/metrics"
    assert client.post(url, json={"metrics": points}).json() == {"accepted": 5}
    assert client.post(url, json={"metrics": points + points[:2]}).json() == {"accepted": 0}  # none new
    stored = session.scalar(select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id))
    assert stored == 5
    series = client.get(f"{url}/dev_error").json()
    assert series["points"] == [[s, 1 / s] for s in range(1, 6)]
    assert series["downsampled"] is False


def test_summary_holds_the_latest_step_even_when_sent_out_of_order(client: TestClient, run_id: int) -> None:
    url = f"/api/v1/runs/{run_id}/metrics"
    client.post(url, json={"metrics": [{"key": "dev_error", "step": 3, "value": 0.1}]})
    client.post(url, json={"metrics": [{"key": "dev_error", "step": 2, "value": 0.5}]})
    assert client.get(f"/api/v1/runs/{run_id}").json()["summary"] == {"dev_error": 0.1}


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_values_are_refused_naming_the_point(client: TestClient, run_id: int, bad: str) -> None:
    second = '{"key": "loss", "step": 2, "value": ' + bad + "}"
    body = '{"metrics": [{"key": "loss", "step": 1, "value": 1.0}, ' + second + "]}"
    response = client.post(
        f"/api/v1/runs/{run_id}/metrics", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "metrics", 1, "value"]
    assert "finite" in detail["msg"]


def test_diverged_run_may_send_its_last_non_finite_point(client: TestClient, run_id: int) -> None:
    client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "diverged", "error": "loss became NaN"})
    body = '{"metrics": [{"key": "loss", "step": 1, "value": 2.0}, {"key": "loss", "step": 2, "value": NaN}]}'
    response = client.post(
        f"/api/v1/runs/{run_id}/metrics", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"accepted": 1}


@pytest.mark.parametrize(
    ("point", "field"),
    [
        ({"step": 1, "value": 1}, "key"),
        ({"key": "a", "value": 1}, "step"),
        ({"key": "a", "step": -1, "value": 1}, "step"),
        ({"key": "a", "step": 1, "value": "high"}, "value"),
        ({"key": "bad key!", "step": 1, "value": 1}, "key"),
    ],
)
def test_malformed_points_are_422(client: TestClient, run_id: int, point: dict, field: str) -> None:
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [point]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "metrics", 0, field]


def test_max_points_keeps_shape(client: TestClient, run_id: int) -> None:
    values = [
        math.sin(s / 50) + (5.0 if s == 777 else 0.0) - (5.0 if s == 1500 else 0.0) for s in range(3000)
    ]
    points = [{"key": "train_loss", "step": s, "value": v} for s, v in enumerate(values)]
    client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    series = client.get(f"/api/v1/runs/{run_id}/metrics/train_loss", params={"max_points": 100}).json()
    assert series["downsampled"] is True
    assert len(series["points"]) <= 100
    kept = dict((s, v) for s, v in series["points"])
    assert kept[0] == values[0] and kept[2999] == values[2999]
    assert kept[777] == max(values) and kept[1500] == min(values)
    assert (
        client.get(f"/api/v1/runs/{run_id}/metrics/train_loss", params={"max_points": 1}).status_code == 422
    )


def test_unknown_metric_and_run(client: TestClient, run_id: int) -> None:
    assert client.get(f"/api/v1/runs/{run_id}/metrics/nothing").status_code == 404
    assert client.post("/api/v1/runs/999999/metrics", json={"metrics": []}).status_code == 404


def test_metric_keys_lists_what_was_logged(client: TestClient, run_id: int) -> None:
    points = [{"key": k, "step": 1, "value": 0.5} for k in ("train_error", "dev_error")]
    client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    assert client.get(f"/api/v1/runs/{run_id}/metrics").json() == ["dev_error", "train_error"]


@pytest.mark.parametrize("diverged", [False, True])  # a NaN in the batch takes the checked path
def test_the_first_value_of_a_step_stays_within_a_batch_as_across_batches(
    client: TestClient, run_id: int, diverged: bool
) -> None:
    url = f"/api/v1/runs/{run_id}/metrics"
    if diverged:
        client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "diverged", "error": "loss became NaN"})
    nan = ', {"key": "loss", "step": 9, "value": NaN}' if diverged else ""
    body = (
        '{"metrics": [{"key": "loss", "step": 1, "value": 0.5}, {"key": "loss", "step": 2, "value": 0.4},'
        ' {"key": "loss", "step": 1, "value": 0.9}' + nan + "]}"
    )
    response = client.post(url, content=body, headers={"content-type": "application/json"})
    assert response.json() == {"accepted": 2}  # stored: steps 1 and 2 once each
    again = [{"key": "loss", "step": 2, "value": 7.0}, {"key": "loss", "step": 3, "value": 0.3}]
    assert client.post(url, json={"metrics": again}).json() == {"accepted": 1}  # step 3
    assert client.get(f"{url}/loss").json()["points"] == [[1, 0.5], [2, 0.4], [3, 0.3]]
    assert client.get(f"/api/v1/runs/{run_id}").json()["summary"] == {"loss": 0.3}


def test_a_timestamp_in_any_offset_is_stored_as_its_utc_instant(
    client: TestClient, session: Session, run_id: int
) -> None:
    # PostgreSQL refuses offsets past 15:59 (Python allows up to 23:59): the batch was an unnamed 422 there.
    sent = "2024-03-01T07:21:00+19:23"
    point = {"key": "loss", "step": 1, "value": 0.5, "timestamp": sent}
    assert client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [point]}).json() == {"accepted": 1}
    stored = session.scalar(select(MetricPoint.timestamp).where(MetricPoint.run_id == run_id))
    assert as_utc(stored) == datetime.fromisoformat(sent)


@pytest.mark.parametrize("sent", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_timestamp_that_leaves_years_1_to_9999_in_utc_is_422_naming_it(
    client: TestClient, run_id: int, sent: str
) -> None:
    point = {"key": "loss", "step": 1, "value": 0.5, "timestamp": sent}
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [point]})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "metrics", 0, "timestamp"]
