"""The decision chain for a run of your own script: its diagnosis names the script's own parameters, and
"try next" or "repeat with seeds" hands its copies to trainboard agent as children of the run."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

PARAMS = {"optimizer": {"lr": 0.01, "name": "sgd"}, "epochs": 5, "weight_decay": 0.001, "seed": 0}


@pytest.fixture
def script_run(client: TestClient) -> dict[str, Any]:
    body = {"name": "mine", "dataset": "external", "human_level_error": 0.01}
    project = client.post("/api/v1/projects", json=body).json()
    body = {"project_id": project["id"], "name": "baseline", "external": True, "params": PARAMS}
    run = client.post("/api/v1/runs", json=body).json()
    points = [
        {"key": key, "step": step, "value": value}
        for step, (train, dev) in enumerate([(0.40, 0.42), (0.30, 0.33), (0.25, 0.28)], start=1)
        for key, value in (("train_error", train), ("dev_error", dev))
    ]
    client.post(f"/api/v1/runs/{run['id']}/metrics", json={"metrics": points})
    assert client.post(f"/api/v1/runs/{run['id']}/finish", json={"status": "succeeded"}).status_code == 200
    return run


def take(client: TestClient, sweep_id: int) -> dict[str, Any] | None:
    response = client.post(f"/api/v1/sweeps/{sweep_id}/next")
    return response.json() if response.status_code == 201 else None


def test_the_advice_names_the_scripts_own_parameters(client: TestClient, script_run: dict) -> None:
    diagnosis = client.get(f"/api/v1/runs/{script_run['id']}/diagnosis").json()
    assert diagnosis["primary"] == "avoidable_bias"
    knobs = {a["path"]: a["value"] for a in diagnosis["actions"] if a["path"] is not None}
    assert knobs == {"epochs": 10, "weight_decay": 0.0005}  # "train longer", "regularise less"
    # No parameter called hidden: a bigger network is advice without a button.
    assert any("bigger network" in a["text"] and a["path"] is None for a in diagnosis["actions"])


def test_try_next_hands_one_copy_with_the_change_to_an_agent(client: TestClient, script_run: dict) -> None:
    response = client.post(f"/api/v1/runs/{script_run['id']}/agent-copy", json={"changes": {"epochs": 10}})
    assert response.status_code == 201, response.text
    sweep = response.json()
    assert sweep["target"] == "script" and sweep["trial_budget"] == 1
    assert sweep["parent_run_id"] == script_run["id"] and sweep["name"] == "baseline epochs=10"
    child = take(client, sweep["id"])
    assert child is not None and take(client, sweep["id"]) is None
    assert child["parent_id"] == script_run["id"] and child["name"] == "baseline epochs=10"
    assert child["params"] == {
        "optimizer.lr": 0.01,
        "optimizer.name": "sgd",
        "epochs": 10,
        "weight_decay": 0.001,
        "seed": 0,
    }


def test_clone_of_a_script_run_points_to_the_agent_copy(client: TestClient, script_run: dict) -> None:
    response = client.post(f"/api/v1/runs/{script_run['id']}/clone", json={"changes": {"epochs": 10}})
    assert response.status_code == 409
    assert f"/api/v1/runs/{script_run['id']}/agent-copy" in response.json()["detail"]


def test_repeat_hands_seed_copies_to_agents_in_the_runs_group(client: TestClient, script_run: dict) -> None:
    response = client.post(f"/api/v1/runs/{script_run['id']}/repeat", json={"seeds": 3})
    assert response.status_code == 201, response.text
    repeated = response.json()
    assert repeated["group"] == "baseline seeds" and repeated["runs"] == []
    children = [take(client, repeated["sweep_id"]) for _ in range(3)]
    assert take(client, repeated["sweep_id"]) is None
    assert [c["params"]["seed"] for c in children] == [1, 2, 3]  # type: ignore[index]
    for child in children:
        assert child is not None and child["group"] == "baseline seeds"
        assert child["parent_id"] == script_run["id"]
        assert {k: v for k, v in child["params"].items() if k != "seed"} == {
            "optimizer.lr": 0.01,
            "optimizer.name": "sgd",
            "epochs": 5,
            "weight_decay": 0.001,
        }
    assert [c["name"] for c in children] == [f"baseline seed={s}" for s in (1, 2, 3)]  # type: ignore[index]
    assert client.get(f"/api/v1/runs/{script_run['id']}").json()["group"] == "baseline seeds"
    # Repeating again takes seeds no copy has yet, even one still waiting for an agent.
    again = client.post(f"/api/v1/runs/{script_run['id']}/repeat", json={"seeds": 2}).json()
    space = client.get(f"/api/v1/sweeps/{again['sweep_id']}").json()["space"]
    assert space["seed"] == {"choice": [4, 5]}
