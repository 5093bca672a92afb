import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def external_run(client: TestClient) -> tuple[int, int]:
    """A run logged by a user's own script, the way the client library does it: no worker involved."""
    project = client.post(
        "/api/v1/projects", json={"name": "ext", "dataset": "external", "human_level_error": 0.01}
    ).json()
    run = client.post("/api/v1/runs", json={"project_id": project["id"], "external": True}).json()
    return project["id"], run["id"]


def _log(client: TestClient, run_id: int, **errors: float) -> None:
    points = [{"key": key, "step": 1, "value": value} for key, value in errors.items()]
    assert client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points}).status_code == 200


def test_diagnosis_of_an_external_run_names_the_dominant_gap(client: TestClient, external_run: tuple) -> None:
    _, run_id = external_run
    _log(client, run_id, train_error=0.02, train_dev_error=0.03, dev_error=0.10, test_error=0.11)
    body = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    assert body["avoidable_bias"] == pytest.approx(0.01)
    assert body["variance"] == pytest.approx(0.01)
    assert body["data_mismatch"] == pytest.approx(0.07)
    assert body["dev_overfitting"] == pytest.approx(0.01)
    assert body["primary"] == "data_mismatch"
    assert any("dev" in text for text in body["recommendations"])


def test_diagnosis_without_train_dev_uses_dev_minus_train(client: TestClient, external_run: tuple) -> None:
    project_id, run_id = external_run
    client.patch(f"/api/v1/projects/{project_id}", json={"human_level_error": None})
    _log(client, run_id, train_error=0.01, dev_error=0.15)
    body = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    # No human-level error: Bayes error is taken as 0, and the body says so.
    assert body["human_level_error"] is None and body["human_level_assumed"] is True
    assert body["avoidable_bias"] == pytest.approx(0.01)
    assert body["variance"] == pytest.approx(0.14)
    assert body["data_mismatch"] is None
    assert body["primary"] == "variance"


def test_diagnosis_with_too_little_logged_is_unknown(client: TestClient, external_run: tuple) -> None:
    _, run_id = external_run
    # A percentage logged by mistake is refused with the key and value, not stored to be misread later.
    points = [{"key": "dev_error", "step": 1, "value": 0.1}, {"key": "train_error", "step": 1, "value": 25.0}]
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "metrics", 1, "value"]
    assert error["msg"] == (
        "train_error is 25.0: error rates are fractions in [0, 1], 0.08 meaning 8 % (for 25 %, log 0.25)"
    )
    body = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    assert body["primary"] == "unknown"
    assert body["train_error"] is None
    assert client.get("/api/v1/runs/999999/diagnosis").status_code == 404


def test_error_analysis_counts_and_ceilings(client: TestClient, external_run: tuple) -> None:
    project_id, run_id = external_run
    # 10 dev examples, 4 wrong: two tagged blurry, one tagged blurry and dark, one untagged.
    rows = [(f"e{i}", i % 2, i % 2, 0.9) for i in range(6)] + [
        ("w1", 0, 1, 0.9),
        ("w2", 0, 1, 0.8),
        ("w3", 1, 0, 0.7),
        ("w4", 1, 0, 0.6),
    ]
    predictions = [{"example_id": e, "label": y, "predicted": p, "confidence": c} for e, y, p, c in rows]
    client.post(f"/api/v1/runs/{run_id}/predictions", json={"split": "dev", "predictions": predictions})
    client.post(
        f"/api/v1/projects/{project_id}/examples/tags",
        json={"example_ids": ["w1", "w2", "w3"], "add": ["blurry"]},
    )
    client.put(f"/api/v1/projects/{project_id}/examples/w3/tags", json={"tags": ["blurry", "dark"]})
    client.put(
        f"/api/v1/projects/{project_id}/examples/e0/tags", json={"tags": ["dark"]}
    )  # right, so not counted
    body = client.get(f"/api/v1/runs/{run_id}/error-analysis", params={"split": "dev"}).json()
    assert (body["examples"], body["errors"], body["error_rate"]) == (10, 4, 0.4)
    assert body["tagged_errors"] == 3
    # API.md's four fields, plus the two estimated from the reviewed (here: the three tagged) errors.
    assert body["by_tag"] == [
        {"tag": "blurry", "count": 3, "fraction_of_errors": 0.75, "max_error_reduction": 0.3,
         "fraction_of_reviewed": 1.0, "max_error_reduction_reviewed": 0.4, "cumulative_share": 0.75},
        {"tag": "dark", "count": 1, "fraction_of_errors": 0.25, "max_error_reduction": 0.1,
         "fraction_of_reviewed": pytest.approx(1 / 3),
         "max_error_reduction_reviewed": pytest.approx(0.4 / 3), "cumulative_share": 1.0},
    ]  # fmt: skip
    assert body["confusion"] == {"labels": [0, 1], "matrix": [[3, 2], [2, 3]]}
    per_class = {c["label"]: c for c in body["per_class"]}
    assert per_class[0]["precision"] == pytest.approx(0.6)
    assert per_class[1]["support"] == 5
    assert client.get(f"/api/v1/runs/{run_id}/error-analysis", params={"split": "val"}).status_code == 422
