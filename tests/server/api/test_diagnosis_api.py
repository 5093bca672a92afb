"""The diagnosis API: noise from split sizes, the kept epoch described, a run that never learned ended."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from server.diagnosis._ladder import rate_variance


def _run(
    client: TestClient, dataset: str = "digits", human_level_error: float | None = None
) -> tuple[int, int]:
    body = {
        "name": f"p-{dataset}-{human_level_error}",
        "dataset": dataset,
        "human_level_error": human_level_error,
    }
    project = client.post("/api/v1/projects", json=body).json()
    run = client.post("/api/v1/runs", json={"project_id": project["id"], "external": True}).json()
    return project["id"], run["id"]


def _log(client: TestClient, run_id: int, series: dict[str, list[float]], first_step: int = 1) -> None:
    points = [
        {"key": key, "step": first_step + i, "value": value}
        for key, values in series.items()
        for i, value in enumerate(values)
    ]
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    assert response.status_code == 200, response.text


def _predictions(client: TestClient, run_id: int, n: int, wrong: int, split: str = "dev") -> None:
    rows = [
        {"example_id": f"{split}{i}", "label": i % 10, "predicted": (i + (i < wrong)) % 10} for i in range(n)
    ]
    assert client.post(
        f"/api/v1/runs/{run_id}/predictions", json={"split": split, "predictions": rows}
    ).is_success


def test_split_sizes_give_each_gap_its_noise(client: TestClient) -> None:
    _, run_id = _run(client)
    _log(
        client,
        run_id,
        {"train_examples": [1078], "dev_examples": [270], "test_examples": [270]},
        first_step=0,
    )
    _log(client, run_id, {"train_error": [0.009], "dev_error": [0.037], "test_error": [0.044]})
    body = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    assert body["split_sizes"] == {"train": 1078, "train_dev": None, "dev": 270, "test": 270}
    expected = math.sqrt(
        rate_variance(0.037, 270) + rate_variance(0.044, 270)
    )  # pinned in test_diagnosis_noise
    assert body["standard_errors"]["dev_overfitting"] == pytest.approx(expected)
    assert body["significant"]["dev_overfitting"] is False
    assert body["significant"]["variance"] is True
    assert body["primary"] == "variance"
    assert not any("bigger dev set" in text for text in body["recommendations"])


def test_predictions_give_the_dev_and_test_sizes_when_none_were_logged(client: TestClient) -> None:
    _, run_id = _run(client)
    _log(client, run_id, {"train_error": [0.0], "dev_error": [0.04], "test_error": [0.05]})
    _predictions(client, run_id, 200, 8, "dev")
    _predictions(client, run_id, 100, 5, "test")
    body = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    assert body["split_sizes"] == {"train": None, "train_dev": None, "dev": 200, "test": 100}
    assert body["standard_errors"]["dev_overfitting"] is not None
    assert body["standard_errors"]["variance"] is None  # the train size is still unknown


def test_a_kept_best_epoch_is_what_the_summary_and_ladder_describe(client: TestClient) -> None:
    project = client.post("/api/v1/projects", json={"name": "zoo", "dataset": "digits"}).json()
    config = {
        "model": {"name": "mlp", "hidden": [64]},
        "hparams": {"epochs": 30, "early_stopping_patience": 1},
    }
    run_id = client.post("/api/v1/runs", json={"project_id": project["id"], "config": config}).json()["id"]
    client.post(f"/api/v1/runs/{run_id}/start", json={"worker": "test"})
    _log(client, run_id, {"train_error": [0.2, 0.05, 0.02, 0.01], "dev_error": [0.2, 0.06, 0.0333, 0.037]})
    _log(client, run_id, {"best_epoch": [3]}, first_step=4)
    before = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    assert (before["step"], before["dev_error"]) == (4, 0.037)  # still running: the latest epoch

    finished = client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded"}).json()

    assert finished["status"] == "succeeded"
    assert (finished["summary"]["dev_error"], finished["summary"]["train_error"]) == (0.0333, 0.02)
    body = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    assert (body["step"], body["best_epoch"], body["dev_error"]) == (3, 3, 0.0333)
    listed = client.get("/api/v1/runs", params={"sort": "dev_error"}).json()["items"]
    assert [r["summary"]["dev_error"] for r in listed if r["id"] == run_id] == [0.0333]
    assert body["primary"] == "avoidable_bias"
    assert not any(a["path"] == "hparams.epochs" for a in body["actions"])  # it stopped early: 4 of 30 epochs
    # The series keep every epoch: only the summary moved.
    series = client.get(f"/api/v1/runs/{run_id}/metrics/dev_error").json()["points"]
    assert series[-1] == [4, 0.037]


def test_a_run_that_never_left_chance_ends_diverged_with_the_reason(client: TestClient) -> None:
    _, run_id = _run(client)
    ln10 = math.log(10)
    _log(
        client,
        run_id,
        {"train_error": [0.9, 0.91, 0.9, 0.9], "train_loss": [ln10 + 0.3, ln10, ln10 + 0.1, ln10]},
    )
    _log(client, run_id, {"dev_error": [0.9, 0.9, 0.89, 0.9], "train_examples": [1078, 1078, 1078, 1078]})

    finished = client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded"})

    assert finished.status_code == 200
    body = finished.json()
    assert body["status"] == "diverged"
    assert body["error"] == (
        "train error never left chance: 90.0 % at best over 4 epochs, where guessing among 10 classes gives "
        "90.0 %: the network did not learn: try a lower learning rate"
    )
    # A retried finish (the first reply was lost) is answered with the verdict, not a 409.
    again = client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded"})
    assert (again.status_code, again.json()["status"]) == (200, "diverged")
    diagnosis = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    assert diagnosis["training"]["status"] == "not_learning"
    assert diagnosis["actions"][0]["text"].startswith("Lower the learning rate: the network did not learn")
    assert not any("Train longer" in t or "bigger network" in t for t in diagnosis["recommendations"])


def test_a_run_that_learned_finishes_succeeded(client: TestClient) -> None:
    _, run_id = _run(client)
    _log(
        client,
        run_id,
        {"train_error": [0.5, 0.1, 0.05], "dev_error": [0.5, 0.12, 0.07], "train_loss": [1.5, 0.4, 0.2]},
    )
    body = client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded"}).json()
    assert (body["status"], body["error"]) == ("succeeded", None)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("dev_error", 8.0, "dev_error is 8.0: error rates are fractions in [0, 1]"),
        ("test_error", -0.01, "test_error is -0.01: error rates are fractions in [0, 1]"),
        ("dev_examples", 0, "dev_examples is 0.0: a split size is a whole number of examples, at least 1"),
    ],
)
def test_canonical_keys_out_of_range_are_a_422_naming_key_and_value(
    client: TestClient, key: str, value: float, message: str
) -> None:
    _, run_id = _run(client)
    points = [{"key": "loss", "step": 1, "value": 5.0}, {"key": key, "step": 1, "value": value}]
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "metrics", 1, "value"]
    assert error["msg"].startswith(message)
    assert client.get(f"/api/v1/runs/{run_id}").json()["summary"] == {}  # nothing of the batch was stored
