"""Metric-key aliases on a project: a script's own names (val_error) are stored under the canonical keys
(dev_error) at ingestion, so the summary, the series, the diagnosis and the leaderboard all read them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_project, make_run

ALIASES = {"val_error": "dev_error", "acc_train_err": "train_error", "val_loss": "dev_loss"}


def _project(client: TestClient, **fields: object) -> dict:
    response = client.post("/api/v1/projects", json={"name": "aliased", "dataset": "external", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _external_run(client: TestClient, project_id: int) -> int:
    response = client.post("/api/v1/runs", json={"project_id": project_id, "external": True})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _log(client: TestClient, run_id: int, points: list[tuple[str, int, float]]) -> dict:
    body = {"metrics": [{"key": k, "step": s, "value": v} for k, s, v in points]}
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_patch_sets_returns_and_clears_aliases(client: TestClient) -> None:
    project = _project(client)
    assert project["metric_aliases"] == {}
    url = f"/api/v1/projects/{project['id']}"

    patched = client.patch(url, json={"metric_aliases": ALIASES})

    assert patched.status_code == 200, patched.text
    assert patched.json()["metric_aliases"] == ALIASES
    assert client.get(url).json()["metric_aliases"] == ALIASES
    assert client.patch(url, json={"human_level_error": 0.01}).json()["metric_aliases"] == ALIASES  # kept
    assert client.patch(url, json={"metric_aliases": None}).json()["metric_aliases"] == {}
    run_id = _external_run(client, project["id"])
    _log(client, run_id, [("val_error", 1, 0.3)])
    assert client.get(f"/api/v1/runs/{run_id}").json()["summary"] == {"val_error": 0.3}  # cleared: as sent


@pytest.mark.parametrize(
    ("aliases", "fragment"),
    [
        ({"val_error": "dev_erorr"}, "val_error -> dev_erorr: the target must be a canonical key, one of"),
        ({"val_error": "accuracy"}, "val_error -> accuracy: the target must be a canonical key"),
        ({"dev_error": "test_error"}, "dev_error is itself a canonical key and cannot be an alias"),
    ],
)
def test_an_alias_to_a_non_canonical_key_or_from_a_canonical_one_is_422(
    client: TestClient, aliases: dict[str, str], fragment: str
) -> None:
    project = _project(client)
    response = client.patch(f"/api/v1/projects/{project['id']}", json={"metric_aliases": aliases})
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "metric_aliases"]
    assert fragment in detail["msg"]
    assert client.get(f"/api/v1/projects/{project['id']}").json()["metric_aliases"] == {}


def test_an_alias_that_is_no_valid_metric_key_is_422(client: TestClient) -> None:
    project = _project(client)
    response = client.patch(
        f"/api/v1/projects/{project['id']}", json={"metric_aliases": {"val err!": "dev_error"}}
    )
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"][:3] == ["body", "metric_aliases", "val err!"]


def test_points_under_an_alias_are_stored_under_the_canonical_key(client: TestClient) -> None:
    project = _project(client, metric_aliases=ALIASES)
    run_id = _external_run(client, project["id"])
    points = [("acc_train_err", 1, 0.20), ("val_error", 1, 0.30), ("val_loss", 1, 0.9), ("other", 1, 5.0)]
    points += [("acc_train_err", 2, 0.10), ("val_error", 2, 0.25), ("val_loss", 2, 0.7)]

    assert _log(client, run_id, points) == {"accepted": 7}

    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["summary"] == {"train_error": 0.10, "dev_error": 0.25, "dev_loss": 0.7, "other": 5.0}
    assert client.get(f"/api/v1/runs/{run_id}/metrics").json() == [
        "dev_error",
        "dev_loss",
        "other",
        "train_error",
    ]
    series = client.get(f"/api/v1/runs/{run_id}/metrics/dev_error").json()
    assert series["points"] == [[1, 0.30], [2, 0.25]]
    diagnosis = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    assert (diagnosis["train_error"], diagnosis["dev_error"]) == (0.10, 0.25)
    assert diagnosis["primary"] not in ("unknown", None)
    ranked = client.get("/api/v1/runs", params={"project_id": project["id"], "sort": "dev_error"}).json()
    assert [r["summary"].get("dev_error") for r in ranked["items"]] == [0.25]


def test_an_aliased_value_is_checked_as_its_canonical_key(client: TestClient) -> None:
    project = _project(client, metric_aliases={"val_error": "dev_error"})
    run_id = _external_run(client, project["id"])
    body = {"metrics": [{"key": "val_error", "step": 1, "value": 8.0}]}
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json=body)
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", "metrics", 0, "value"]
    assert detail["msg"].startswith("dev_error is 8.0: error rates are fractions in [0, 1]")


def test_without_aliases_keys_are_stored_as_sent(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), status="running")
    assert _log(client, run.id, [("val_error", 1, 0.3)]) == {"accepted": 1}
    assert client.get(f"/api/v1/runs/{run.id}").json()["summary"] == {"val_error": 0.3}


def test_aliases_apply_to_points_logged_after_they_are_set(client: TestClient) -> None:
    project = _project(client)
    run_id = _external_run(client, project["id"])
    _log(client, run_id, [("val_error", 1, 0.4)])
    client.patch(f"/api/v1/projects/{project['id']}", json={"metric_aliases": {"val_error": "dev_error"}})
    _log(client, run_id, [("val_error", 2, 0.3)])
    assert client.get(f"/api/v1/runs/{run_id}").json()["summary"] == {"val_error": 0.4, "dev_error": 0.3}


def test_a_diverged_runs_last_batch_is_aliased_too(client: TestClient) -> None:
    project = _project(client, metric_aliases={"val_loss": "dev_loss"})
    run_id = _external_run(client, project["id"])
    client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "diverged", "error": "loss became NaN"})
    last = '{"key": "val_loss", "step": 2, "value": NaN}'
    body = '{"metrics": [{"key": "val_loss", "step": 1, "value": 2.0}, ' + last + "]}"
    response = client.post(
        f"/api/v1/runs/{run_id}/metrics", content=body, headers={"content-type": "application/json"}
    )
    assert response.json() == {"accepted": 1}
    assert client.get(f"/api/v1/runs/{run_id}").json()["summary"] == {"dev_loss": 2.0}
