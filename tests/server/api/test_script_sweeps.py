"""Sweeps over a user's own script through the API: free-form parameters, trials handed out by /next,
early stopping heard in the metrics reply, the sweep's end, and zooming in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.queue import get_queue
from server.services.reaper import fail_abandoned_external_runs
from server.services.sweeps import advance_all

SPACE = {"optimizer.lr": {"log_uniform": [1e-4, 1e-1]}, "batch_size": {"choice": [32, 64]}}


@pytest.fixture
def project_id(client: TestClient) -> int:
    return client.post("/api/v1/projects", json={"name": "mine", "dataset": "external"}).json()["id"]


def create(client: TestClient, project_id: int, **fields: Any) -> dict[str, Any]:
    body = {"project_id": project_id, "target": "script", "space": SPACE, **fields}
    response = client.post("/api/v1/sweeps", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def next_trial(client: TestClient, sweep_id: int, **headers: str) -> dict[str, Any] | None:
    response = client.post(f"/api/v1/sweeps/{sweep_id}/next", headers=headers)
    assert response.status_code in (201, 204), response.text
    return response.json() if response.status_code == 201 else None


def log(client: TestClient, run_id: int, step: int, dev_error: float) -> dict[str, Any]:
    point = {"key": "dev_error", "step": step, "value": dev_error}
    response = client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [point]})
    assert response.status_code == 200, response.text
    return response.json()


def test_script_sweep_hands_out_each_trial_once_until_the_budget(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=3, seed=4)
    assert sweep["target"] == "script" and sweep["base_config"] == {}
    assert sweep["counts"]["total"] == 0 and sweep["counts"]["remaining"] == 3  # nothing queued to workers
    trials = [next_trial(client, sweep["id"]) for _ in range(3)]
    assert next_trial(client, sweep["id"]) is None
    assert [t["name"] for t in trials] == [f"{sweep['name']}-t{i}" for i in (1, 2, 3)]  # type: ignore[index]
    for trial in trials:
        assert trial is not None
        assert trial["status"] == "running" and trial["external"] is True
        assert trial["sweep_id"] == sweep["id"]
        assert set(trial["params"]) == {"optimizer.lr", "batch_size"}
        assert 1e-4 <= trial["params"]["optimizer.lr"] <= 1e-1
    assert len({t["params"]["optimizer.lr"] for t in trials}) == 3  # type: ignore[index]
    read = client.get(f"/api/v1/sweeps/{sweep['id']}").json()
    assert read["handed_out"] == 3 and read["counts"]["running"] == 3 and read["status"] == "running"
    for trial in trials:
        finish = client.post(f"/api/v1/runs/{trial['id']}/finish", json={"status": "succeeded"})  # type: ignore[index]
        assert finish.status_code == 200
    assert client.get(f"/api/v1/sweeps/{sweep['id']}").json()["status"] == "finished"


def test_a_retried_next_gets_the_same_trial(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=2)
    first = next_trial(client, sweep["id"], **{"Idempotency-Key": "agent-a-1"})
    again = next_trial(client, sweep["id"], **{"Idempotency-Key": "agent-a-1"})
    assert first is not None and again is not None and again["id"] == first["id"]
    assert client.get(f"/api/v1/sweeps/{sweep['id']}").json()["handed_out"] == 1


def test_next_is_204_for_a_paused_or_cancelled_sweep(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=5)
    client.post(f"/api/v1/sweeps/{sweep['id']}/pause")
    assert next_trial(client, sweep["id"]) is None
    client.post(f"/api/v1/sweeps/{sweep['id']}/resume")
    running = next_trial(client, sweep["id"])
    assert running is not None
    client.post(f"/api/v1/sweeps/{sweep['id']}/cancel")
    assert next_trial(client, sweep["id"]) is None
    # The agent running the trial hears it at its next heartbeat.
    assert client.post(f"/api/v1/runs/{running['id']}/heartbeat").json()["status"] == "cancelled"


def test_next_of_a_zoo_sweep_is_409_and_of_an_unknown_one_404(client: TestClient) -> None:
    zoo_project = client.post("/api/v1/projects", json={"name": "zoo", "dataset": "digits"}).json()["id"]
    body = {"project_id": zoo_project, "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}}, "trials": 1}
    zoo = client.post("/api/v1/sweeps", json=body).json()
    response = client.post(f"/api/v1/sweeps/{zoo['id']}/next")
    assert response.status_code == 409
    assert 'only a sweep with "target": "script" hands trials' in response.json()["detail"]
    assert client.post("/api/v1/sweeps/999/next").status_code == 404


@pytest.mark.parametrize(
    ("space", "path", "message"),
    [
        ({"optimizer lr": {"uniform": [0, 1]}}, "optimizer lr", "letters, digits"),
        ({"a..b": {"uniform": [0, 1]}}, "a..b", "letters, digits"),
        ({"lr": {"log_uniform": [0, 1]}}, "lr", "positive bounds"),
        ({"opt": {"choice": ["sgd"]}, "opt.lr": {"uniform": [0, 1]}}, "opt.lr", "'opt' is searched too"),
        ({"lr": {"uniform": [1, 2], "grid": 0}}, "lr", "grid must be an integer"),
    ],
)
def test_bad_script_space_is_422_naming_the_parameter(
    client: TestClient, project_id: int, space: dict, path: str, message: str
) -> None:
    body = {"project_id": project_id, "target": "script", "space": space}
    response = client.post("/api/v1/sweeps", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "space", path]
    assert message in detail["msg"]


def test_script_sweep_refuses_a_base_config(client: TestClient, project_id: int) -> None:
    body = {"project_id": project_id, "target": "script", "space": SPACE, "base_config": {}}
    response = client.post("/api/v1/sweeps", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "base_config"]


def test_zoo_sweep_of_a_script_project_points_to_script(client: TestClient, project_id: int) -> None:
    body = {"project_id": project_id, "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}}}
    response = client.post("/api/v1/sweeps", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "target"]
    assert '"target": "script"' in detail["msg"]


def test_asha_stops_a_script_trial_and_the_metrics_reply_says_so(client: TestClient, project_id: int) -> None:
    early = {"rule": "asha", "min_epochs": 1, "eta": 2}
    sweep = create(client, project_id, trials=2, early_stopping=early)
    good, bad = next_trial(client, sweep["id"]), next_trial(client, sweep["id"])
    assert good is not None and bad is not None
    assert log(client, good["id"], 1, 0.2) == {"accepted": 1}
    assert log(client, bad["id"], 1, 0.6) == {"accepted": 1, "should_stop": True}
    stopped = client.get(f"/api/v1/runs/{bad['id']}").json()
    assert stopped["status"] == "cancelled" and stopped["stopped_early"] is True
    assert stopped["error"].startswith("stopped early by ASHA at epoch 1")
    # A point sent after the stop is still stored, and told again to stop.
    assert log(client, bad["id"], 2, 0.5) == {"accepted": 1, "should_stop": True}
    # The script's own finish after the stop changes nothing.
    assert client.post(f"/api/v1/runs/{bad['id']}/finish", json={"status": "cancelled"}).status_code == 200
    assert client.post(f"/api/v1/runs/{good['id']}/finish", json={"status": "succeeded"}).status_code == 200
    done = client.get(f"/api/v1/sweeps/{sweep['id']}").json()
    assert done["status"] == "finished"
    assert done["counts"]["stopped_early"] == 1 and done["counts"]["failed"] == 0
    assert done["best_run_id"] == good["id"]


def test_asha_lets_a_script_trial_finish_its_last_epoch(client: TestClient, project_id: int) -> None:
    early = {"rule": "asha", "min_epochs": 1, "eta": 2}
    space = {"lr": {"log_uniform": [1e-3, 1e-1]}, "epochs": {"choice": [2]}}
    sweep = create(client, project_id, trials=2, early_stopping=early, space=space)
    first, second = next_trial(client, sweep["id"]), next_trial(client, sweep["id"])
    assert first is not None and second is not None
    log(client, first["id"], 1, 0.2)
    log(client, first["id"], 2, 0.1)
    log(client, second["id"], 1, 0.2)
    assert log(client, second["id"], 2, 0.3) == {"accepted": 1}  # epoch 2 of 2: nothing left to save


def test_a_failed_trial_keeps_the_log_tail_its_agent_sent(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=1)
    trial = next_trial(client, sweep["id"])
    assert trial is not None
    tail = 'Traceback (most recent call last):\n  File "train.py"\nZeroDivisionError: division by zero\n'
    body = {"status": "failed", "error": "ZeroDivisionError: division by zero", "log_tail": tail}
    assert client.post(f"/api/v1/runs/{trial['id']}/finish", json=body).status_code == 200
    run = client.get(f"/api/v1/runs/{trial['id']}").json()
    assert run["status"] == "failed" and run["log_tail"] == tail
    read = client.get(f"/api/v1/sweeps/{sweep['id']}").json()
    assert read["counts"]["failed"] == 1 and read["status"] == "finished"


def test_the_log_tail_joins_a_run_its_script_already_failed(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=1)
    trial = next_trial(client, sweep["id"])
    assert trial is not None
    first = {"status": "failed", "error": "ValueError: boom"}
    assert client.post(f"/api/v1/runs/{trial['id']}/finish", json=first).status_code == 200
    body = {"status": "failed", "error": "exit status 1", "log_tail": "ValueError: boom\n"}
    assert client.post(f"/api/v1/runs/{trial['id']}/finish", json=body).status_code == 200
    run = client.get(f"/api/v1/runs/{trial['id']}").json()
    assert run["error"] == "ValueError: boom" and run["log_tail"] == "ValueError: boom\n"


def test_zoom_on_a_script_sweep_makes_a_narrower_script_sweep(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=4, space={"lr": {"log_uniform": [1e-4, 1.0]}})
    for _ in range(4):
        trial = next_trial(client, sweep["id"])
        assert trial is not None
        log(client, trial["id"], 1, min(1.0, abs(trial["params"]["lr"] - 0.01)))
        client.post(f"/api/v1/runs/{trial['id']}/finish", json={"status": "succeeded"})
    response = client.post(f"/api/v1/sweeps/{sweep['id']}/zoom", json={"top_k": 1})
    assert response.status_code == 201, response.text
    zoomed = response.json()
    assert zoomed["target"] == "script" and zoomed["parent_id"] == sweep["id"]
    low, high = zoomed["space"]["lr"]["log_uniform"]
    assert 1e-4 <= low < high <= 1.0 and high / low < 1e4
    assert next_trial(client, zoomed["id"]) is not None


def test_a_trial_whose_agent_was_killed_fails_and_the_sweep_still_ends(
    client: TestClient, project_id: int, session: Session
) -> None:
    sweep = create(client, project_id, trials=1)
    trial = next_trial(client, sweep["id"])
    assert trial is not None
    # kill -9 of the agent and its command: nothing reports for the trial any more.
    later = datetime.now(UTC) + timedelta(hours=1)
    assert fail_abandoned_external_runs(session=session, timeout_s=600, at=later) == [trial["id"]]
    advance_all(session=session, queue=get_queue())  # the reaper's pass
    done = client.get(f"/api/v1/sweeps/{sweep['id']}").json()
    assert done["status"] == "finished" and done["counts"]["failed"] == 1
