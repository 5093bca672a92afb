"""The client library inside a command `trainboard agent` runs: init() attaches to the trial, run.config
nests the sampled values over the script's defaults, and run.should_stop turns true once the server has
stopped it. Against the real app in this process (one thread: background sending and heartbeats off)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import trainboard
from trainboard.client import Client, Run
from trainboard.settings import get_settings


@pytest.fixture
def api(client: TestClient) -> Client:
    return Client("http://testserver", token="", transport=client._transport, sleep=lambda _: None)


@pytest.fixture
def as_agent_trial(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run the test as if `trainboard agent` had started it for a run id (TRAINBOARD_RUN_ID)."""

    def enter(run_id: int) -> None:
        monkeypatch.setenv("TRAINBOARD_RUN_ID", str(run_id))
        get_settings.cache_clear()

    yield enter
    monkeypatch.delenv("TRAINBOARD_RUN_ID", raising=False)
    get_settings.cache_clear()


def quiet(run: Run) -> Run:
    """Send from this thread only: the test's database session is not shared across threads."""
    run.flush_interval_s = None
    run._stop.set()  # ends the heartbeat thread at its first wake-up
    return run


def script_sweep(client: TestClient, **fields: Any) -> int:
    project = client.post("/api/v1/projects", json={"name": "mine", "dataset": "external"}).json()
    body = {"project_id": project["id"], "target": "script", "trials": 2, **fields}
    response = client.post("/api/v1/sweeps", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_init_attaches_to_the_trial_with_its_values_nested_over_the_defaults(
    client: TestClient, api: Client, as_agent_trial: Any
) -> None:
    space = {"optimizer.lr": {"log_uniform": [1e-4, 1e-1]}, "batch_size": {"choice": [32, 64]}}
    trial = api.next_trial(script_sweep(client, space=space))
    assert trial is not None
    as_agent_trial(trial["id"])
    defaults = {"optimizer": {"lr": 0.5, "momentum": 0.9}, "epochs": 3}
    run = quiet(trainboard.init(project="whatever the script says", params=defaults, client=api))
    assert run.id == trial["id"]
    assert run.config == {
        "optimizer": {"lr": trial["params"]["optimizer.lr"], "momentum": 0.9},
        "epochs": 3,
        "batch_size": trial["params"]["batch_size"],
    }
    run.log({"dev_error": 0.25}, step=1)
    run.finish()
    assert client.get("/api/v1/runs", params={"project_id": trial["project_id"]}).json()["total"] == 1
    finished = client.get(f"/api/v1/runs/{trial['id']}").json()
    assert finished["status"] == "succeeded" and finished["summary"]["dev_error"] == 0.25


def test_should_stop_turns_true_when_early_stopping_stops_the_trial(
    client: TestClient, api: Client, as_agent_trial: Any
) -> None:
    early = {"rule": "asha", "min_epochs": 1, "eta": 2}
    sweep_id = script_sweep(client, space={"lr": {"uniform": [0, 1]}}, early_stopping=early)
    runs = []
    for dev_error in (0.2, 0.6):
        trial = api.next_trial(sweep_id)
        assert trial is not None
        as_agent_trial(trial["id"])
        run = quiet(trainboard.init(client=api))
        assert run.should_stop is False
        run.log({"dev_error": dev_error}, step=1)
        run.flush()
        runs.append(run)
    good, bad = runs
    assert good.should_stop is False and bad.should_stop is True
    bad.finish()  # the server's "cancelled" stands; the script's finish does not raise
    stopped = client.get(f"/api/v1/runs/{bad.id}").json()
    assert stopped["status"] == "cancelled" and stopped["stopped_early"] is True
    good.finish()


def test_should_stop_is_seen_in_the_heartbeat_too(client: TestClient, api: Client) -> None:
    project = client.post("/api/v1/projects", json={"name": "beats", "dataset": "external"}).json()
    data = api.create_run(project["id"])
    run = quiet(Run(api, data, heartbeat_interval_s=None))
    client.post(f"/api/v1/runs/{run.id}/cancel")
    assert run.should_stop is False
    run._beat_once()
    assert run.should_stop is True
    run.finish()


def test_init_outside_an_agent_needs_a_project(api: Client) -> None:
    with pytest.raises(
        ValueError, match=r"project: name one, trainboard.init\(project=...\), or set TRAINBOARD_PROJECT"
    ):
        trainboard.init(client=api)
