"""MLflow's REST calls answered in MLflow's shape (the real client is driven in test_mlflow_client.py)."""

from __future__ import annotations

API = "/api/2.0/mlflow"


def test_experiment_and_run_round_trip(client) -> None:  # type: ignore[no-untyped-def]
    created = client.post(f"{API}/experiments/create", json={"name": "mnist"})
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    run = client.post(
        f"{API}/runs/create",
        json={"experiment_id": experiment_id, "start_time": 1_700_000_000_123, "run_name": "a", "tags": []},
    ).json()["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["start_time"] == 1_700_000_000_123
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1_700_000_000_500 + s, "step": s}
            for s in range(5)
        ],
        "params": [{"key": "lr", "value": "0.01"}],
        "tags": [{"key": "team", "value": "vision"}],
    }
    assert client.post(f"{API}/runs/log-batch", json=batch).status_code == 200
    got = client.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert got["data"]["params"] == [{"key": "lr", "value": "0.01"}]
    assert {"key": "team", "value": "vision"} in got["data"]["tags"]
    assert got["data"]["metrics"] == [
        {"key": "loss", "value": 0.2, "timestamp": 1_700_000_000_504, "step": 4}
    ]
    history = client.get(
        f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss", "max_results": 2}
    ).json()
    assert [p["step"] for p in history["metrics"]] == [0, 1]
    found = client.post(
        f"{API}/runs/search",
        json={"experiment_ids": [experiment_id], "filter": "metrics.loss < 0.5 and params.lr = '0.01'"},
    ).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]
    bad = client.post(
        f"{API}/runs/search", json={"experiment_ids": [experiment_id], "filter": "metrics.loss <"}
    )
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "position 14" in bad.json()["message"]
    missing = client.get(f"{API}/experiments/get-by-name", params={"experiment_name": "nope"})
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    other = client.post(f"{API}/registered-models/create", json={"name": "m"})
    assert other.status_code == 501
    assert "registered-models/create" in other.json()["message"]
