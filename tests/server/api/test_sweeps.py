"""Sweeps through the API: validation, trials queued `parallelism` at a time, early stopping, pause/cancel."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

SPACE = {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}, "model.hidden": {"choice": [[16], [32]]}}


@pytest.fixture
def project_id(client: TestClient) -> int:
    body = {"name": "sweeps", "dataset": "digits", "satisficing": [{"metric": "latency_ms_b1", "max": 10.0}]}
    return client.post("/api/v1/projects", json=body).json()["id"]


def create(client: TestClient, project_id: int, **fields: Any) -> dict[str, Any]:
    body = {"project_id": project_id, "base_config": {"hparams": {"epochs": 3}}, "space": SPACE, **fields}
    response = client.post("/api/v1/sweeps", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def read(client: TestClient, sweep_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/sweeps/{sweep_id}")
    assert response.status_code == 200, response.text
    return response.json()


def work(
    client: TestClient, run_id: int, dev_errors: list[float], *, latency: float = 1.0, finish: bool = True
) -> str:
    """Act as a worker: start, log dev error per epoch (stopping when told), finish; returns the status."""
    assert client.post(f"/api/v1/runs/{run_id}/start", json={"worker": "test:1"}).status_code == 200
    client.post(
        f"/api/v1/runs/{run_id}/metrics",
        json={"metrics": [{"key": "latency_ms_b1", "step": 0, "value": latency}]},
    )
    for epoch, value in enumerate(dev_errors, start=1):
        point = {"key": "dev_error", "step": epoch, "value": value}
        assert client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": [point]}).status_code == 200
        progress = {"epoch": epoch, "epochs": len(dev_errors)}
        status = client.post(f"/api/v1/runs/{run_id}/progress", json=progress).json()["status"]
        if status != "running":
            return status
    if not finish:
        return status
    return client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "succeeded"}).json()["status"]


def ids_with(sweep: dict[str, Any], status: str) -> list[int]:
    return [trial["id"] for trial in sweep["trials"] if trial["status"] == status]


def test_create_sweep_queues_parallelism_trials(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, name="lr search", trials=5, parallelism=2, seed=1)
    assert sweep["status"] == "running"
    assert sweep["name"] == "lr search"
    assert sweep["trial_budget"] == 5
    assert sweep["counts"] == {
        "total": 2,
        "done": 0,
        "running": 0,
        "queued": 2,
        "stopped_early": 0,
        "failed": 0,
        "remaining": 3,
    }
    assert sweep["scales"] == {"hparams.lr": "log", "model.hidden": "categorical"}
    assert sweep["best_run_id"] is None
    for trial in sweep["trials"]:
        run = client.get(f"/api/v1/runs/{trial['id']}").json()
        assert run["sweep_id"] == sweep["id"] and run["status"] == "queued"
        assert run["config"]["hparams"]["lr"] == trial["params"]["hparams.lr"]
        assert 1e-3 <= run["config"]["hparams"]["lr"] <= 1e-1
        assert run["config"]["model"]["hidden"] == trial["params"]["model.hidden"]
        assert run["config"]["hparams"]["epochs"] == 3
    # Trials are ordinary runs of the project.
    listed = client.get("/api/v1/runs", params={"project_id": project_id}).json()
    assert listed["total"] == 2


@pytest.mark.parametrize(
    ("space", "path", "message"),
    [
        ({"hparams.learning_rate": {"uniform": [0, 1]}}, "hparams.learning_rate", "unknown config path"),
        ({"model.depth": {"int_uniform": [1, 3]}}, "model.depth", "unknown config path"),
        ({"hparams.lr": {"log_uniform": [1e-3, 20]}}, "hparams.lr", "the model refuses hparams.lr=20.0"),
        ({"hparams.keep_prob": {"uniform": [0.5, 1.5]}}, "hparams.keep_prob", "refuses"),
        ({"model.hidden": {"choice": [[16], [0]]}}, "model.hidden", "refuses"),
        ({"hparams.lr": {"log_uniform": [0, 1]}}, "hparams.lr", "positive bounds"),
        ({"hparams.lr": {"uniform": [0.1, 0.01]}}, "hparams.lr", "low <= high"),
        ({"hparams.beta1": {"one_minus_log_uniform": [0.9, 1]}}, "hparams.beta1", "in (0, 1)"),
        ({"hparams.optimizer": {"choice": []}}, "hparams.optimizer", "non-empty"),
        ({"lr": {"uniform": [0, 1]}}, "lr", "config path"),
    ],
)
def test_invalid_space_is_422_naming_the_path(
    client: TestClient, project_id: int, space: dict, path: str, message: str
) -> None:
    response = client.post("/api/v1/sweeps", json={"project_id": project_id, "space": space})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "space", path]
    assert message in detail[0]["msg"]
    assert client.get("/api/v1/sweeps", params={"project_id": project_id}).json()["total"] == 0


def test_grid_without_sizes_is_422(client: TestClient, project_id: int) -> None:
    response = client.post(
        "/api/v1/sweeps", json={"project_id": project_id, "space": SPACE, "strategy": "grid"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "space", "hparams.lr"]


def test_grid_budget_is_the_grid(client: TestClient, project_id: int) -> None:
    space = {"hparams.lr": {"log_uniform": [1e-3, 1e-1], "grid": 3}, "model.hidden": {"choice": [[16], [32]]}}
    sweep = create(client, project_id, space=space, strategy="grid", parallelism=6)
    assert sweep["trial_budget"] == 6
    assert (
        len({(t["params"]["hparams.lr"], tuple(t["params"]["model.hidden"])) for t in sweep["trials"]}) == 6
    )


def test_unknown_project_and_sweep(client: TestClient) -> None:
    response = client.post("/api/v1/sweeps", json={"project_id": 999, "space": SPACE})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "project_id"]
    response = client.get("/api/v1/sweeps/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Sweep 999 not found"}
    assert client.post("/api/v1/sweeps/999/pause").status_code == 404


def test_finished_trials_make_room_for_more_until_the_budget(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=3, parallelism=2)
    first = ids_with(sweep, "queued")
    assert work(client, first[0], [0.3, 0.2, 0.10], latency=50.0) == "succeeded"  # breaks the latency bound
    sweep = read(client, sweep["id"])
    assert sweep["counts"]["total"] == 3 and sweep["counts"]["done"] == 1
    assert len(ids_with(sweep, "queued")) == 2  # never more than `parallelism` at once
    assert work(client, first[1], [0.3, 0.2, 0.15]) == "succeeded"
    sweep = read(client, sweep["id"])
    assert sweep["status"] == "running" and sweep["counts"]["total"] == 3
    last = ids_with(sweep, "queued")[0]
    assert work(client, last, [0.4, 0.3, 0.25]) == "succeeded"
    sweep = read(client, sweep["id"])
    assert sweep["status"] == "finished" and sweep["finished_at"] is not None
    assert sweep["counts"]["done"] == 3 and sweep["counts"]["remaining"] == 0
    # The lowest dev error (first[0]) is too slow for the project's constraint.
    assert sweep["best_run_id"] == first[1]
    assert sweep["best_value"] == pytest.approx(0.15)
    assert sweep["excluded"] == {str(first[0]): "latency_ms_b1 50 > 10"}


def test_asha_stops_a_hopeless_trial_early(client: TestClient, project_id: int) -> None:
    early = {"rule": "asha", "min_epochs": 1, "eta": 2}
    sweep = create(client, project_id, trials=3, parallelism=2, early_stopping=early)
    good, bad = ids_with(sweep, "queued")
    assert work(client, good, [0.2, 0.1, 0.05]) == "succeeded"
    assert work(client, bad, [0.6, 0.5, 0.4]) == "cancelled"  # the worker hears "cancelled" and stops
    run = client.get(f"/api/v1/runs/{bad}").json()
    assert run["status"] == "cancelled" and run["stopped_early"] is True
    assert run["error"].startswith("stopped early by ASHA at epoch 1: dev error 0.6 was not in the top 1/2")
    sweep = read(client, sweep["id"])
    assert sweep["counts"]["stopped_early"] == 1
    assert len(ids_with(sweep, "queued")) == 1  # the stopped trial's slot went to the next trial


def test_asha_lets_a_trial_finish_its_last_epoch(client: TestClient, project_id: int) -> None:
    # With eta=2 epoch 2 is a rung, but it is also the trials' last epoch: nothing is left to save there.
    early = {"rule": "asha", "min_epochs": 1, "eta": 2}
    base = {"hparams": {"epochs": 2}}
    sweep = create(client, project_id, trials=2, parallelism=2, early_stopping=early, base_config=base)
    first, second = ids_with(sweep, "queued")
    assert work(client, first, [0.2, 0.1]) == "succeeded"
    assert work(client, second, [0.2, 0.3]) == "succeeded"
    run = client.get(f"/api/v1/runs/{second}").json()
    assert run["stopped_early"] is False and run["error"] is None


def test_median_rule_stops_worse_than_median(client: TestClient, project_id: int) -> None:
    early = {"rule": "median", "n_warmup_epochs": 1, "n_min_trials": 2}
    sweep = create(client, project_id, trials=4, parallelism=3, early_stopping=early)
    a, b, c = ids_with(sweep, "queued")
    assert work(client, a, [0.3, 0.2, 0.1]) == "succeeded"
    assert work(client, b, [0.3, 0.25, 0.2]) == "succeeded"
    assert work(client, c, [0.5, 0.6, 0.5]) == "cancelled"
    assert "median rule at epoch 2" in client.get(f"/api/v1/runs/{c}").json()["error"]


def test_median_rule_compares_best_so_far_with_completed_trials(client: TestClient, project_id: int) -> None:
    early = {"rule": "median", "n_warmup_epochs": 1, "n_min_trials": 2}
    sweep = create(client, project_id, trials=7, parallelism=7, early_stopping=early)
    *slow, a, b, noisy, bad = ids_with(sweep, "queued")
    for run_id in slow:  # still running at 0.9: they must not lift the median
        assert work(client, run_id, [0.9, 0.9], finish=False) == "running"
    assert work(client, a, [0.30, 0.20, 0.10]) == "succeeded"
    assert work(client, b, [0.30, 0.25, 0.20]) == "succeeded"
    # 0.40 at epoch 3, above the completed trials' 0.10 and 0.20, but its best 0.15 is at their median.
    assert work(client, noisy, [0.30, 0.15, 0.40]) == "succeeded"
    # Its best 0.30 by epoch 2 is worse than the median of 0.20, 0.25 and 0.15; with the running trials'
    # 0.9s counted, the median would have been 0.575.
    assert work(client, bad, [0.30, 0.30, 0.30]) == "cancelled"
    assert client.get(f"/api/v1/runs/{bad}").json()["error"] == (
        "stopped early by the median rule at epoch 2: its best dev error so far, 0.3, was worse than the "
        "median 0.2 of 3 completed trials' best by that epoch"
    )
    assert read(client, sweep["id"])["counts"]["stopped_early"] == 1


def test_pause_resume_and_cancel(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=4, parallelism=1)
    (first,) = ids_with(sweep, "queued")
    assert client.post(f"/api/v1/sweeps/{sweep['id']}/pause").json()["status"] == "paused"
    assert client.post(f"/api/v1/sweeps/{sweep['id']}/pause").status_code == 409
    work(client, first, [0.3])
    paused = read(client, sweep["id"])
    assert paused["counts"]["total"] == 1 and paused["counts"]["queued"] == 0  # nothing new while paused
    resumed = client.post(f"/api/v1/sweeps/{sweep['id']}/resume").json()
    assert resumed["status"] == "running" and resumed["counts"]["queued"] == 1
    cancelled = client.post(f"/api/v1/sweeps/{sweep['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["counts"]["queued"] == 0
    assert [t["error"] for t in cancelled["trials"] if t["status"] == "cancelled"] == [
        "the sweep was cancelled"
    ]
    assert client.post(f"/api/v1/sweeps/{sweep['id']}/resume").status_code == 409
    assert client.post(f"/api/v1/sweeps/{sweep['id']}/cancel").status_code == 409


def test_zoom_creates_a_narrower_sweep(client: TestClient, project_id: int) -> None:
    sweep = create(
        client, project_id, trials=4, parallelism=4, space={"hparams.lr": {"log_uniform": [1e-4, 1.0]}}
    )
    for trial in sweep["trials"]:
        lr = trial["params"]["hparams.lr"]
        work(client, trial["id"], [abs(lr - 0.01)])
    assert client.post(f"/api/v1/sweeps/{sweep['id']}/zoom", json={"top_k": 1}).status_code == 201
    zoomed = client.get("/api/v1/sweeps", params={"project_id": project_id}).json()["items"][0]
    detail = read(client, zoomed["id"])
    assert detail["parent_id"] == sweep["id"] and detail["strategy"] == "coarse_to_fine"
    low, high = detail["space"]["hparams.lr"]["log_uniform"]
    assert 1e-4 <= low < high <= 1.0 and high / low < 1e4


def test_zoom_without_results_is_409(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=2)
    response = client.post(f"/api/v1/sweeps/{sweep['id']}/zoom", json={})
    assert response.status_code == 409


def test_zoom_ranks_only_trials_that_meet_the_constraints(client: TestClient, project_id: int) -> None:
    space = {"hparams.lr": {"log_uniform": [1e-4, 1.0]}}
    sweep = create(client, project_id, trials=4, parallelism=4, space=space)
    by_lr = sorted(sweep["trials"], key=lambda trial: trial["params"]["hparams.lr"])
    lrs = [trial["params"]["hparams.lr"] for trial in by_lr]
    # The smallest learning rate has the best dev error but breaks latency_ms_b1 <= 10.
    for trial, dev_error, latency in zip(by_lr, (0.05, 0.30, 0.20, 0.10), (50.0, 1.0, 1.0, 1.0), strict=True):
        assert work(client, trial["id"], [dev_error], latency=latency) == "succeeded"
    response = client.post(f"/api/v1/sweeps/{sweep['id']}/zoom", json={"top_k": 2})
    assert response.status_code == 201, response.text
    low, high = response.json()["space"]["hparams.lr"]["log_uniform"]
    # Around the two best feasible trials (lrs[3], then lrs[2]), each end widened by an eighth of the old
    # range's 4 decades: half a decade.
    assert low == pytest.approx(lrs[2] / 10**0.5)
    assert high == pytest.approx(lrs[3] * 10**0.5)
    assert low > lrs[1] > lrs[0]


def test_zoom_when_no_trial_meets_the_constraints_is_409(client: TestClient, project_id: int) -> None:
    sweep = create(client, project_id, trials=2, parallelism=2)
    for trial in sweep["trials"]:
        assert work(client, trial["id"], [0.1], latency=50.0) == "succeeded"
    response = client.post(f"/api/v1/sweeps/{sweep['id']}/zoom", json={})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"Sweep {sweep['id']} has no succeeded trial that meets every satisficing constraint "
        "(latency_ms_b1 ≤ 10): zoom-in ranks only the trials that do"
    )
    assert client.get("/api/v1/sweeps", params={"project_id": project_id}).json()["total"] == 1


def test_preview_samples_on_the_distributions_scale(client: TestClient) -> None:
    body = {"distribution": {"log_uniform": [1e-4, 1.0]}, "n": 200, "seed": 0}
    preview = client.post("/api/v1/sweeps/preview", json=body).json()
    assert preview["scale"] == "log"
    values = preview["values"]
    assert len(values) == 200 and all(1e-4 <= v <= 1.0 for v in values)
    assert sum(v < 1e-2 for v in values) > 70  # half the draws below the geometric midpoint
    response = client.post("/api/v1/sweeps/preview", json={"distribution": {"log_uniform": [-1, 1]}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "distribution"]


def test_reaper_pass_advances_running_sweeps(client: TestClient, project_id: int, session) -> None:  # type: ignore[no-untyped-def]
    from server.queue import get_queue
    from server.services.sweeps import advance_all
    from server.tables import Run

    sweep = create(client, project_id, trials=2, parallelism=1)
    (first,) = ids_with(sweep, "queued")
    # A trial that ended without the API hearing about it (e.g. the server restarted in between).
    run = session.get(Run, first)
    run.status = "failed"
    session.commit()
    advance_all(session=session, queue=get_queue())
    assert read(client, sweep["id"])["counts"]["queued"] == 1


def test_trials_train_on_the_dataset_version_the_sweep_began_with(
    client: TestClient, project_id: int
) -> None:
    sweep = create(client, project_id, trials=3, parallelism=1)
    first = ids_with(sweep, "queued")[0]
    corrections = f"/api/v1/projects/{project_id}/label-corrections"
    assert client.put(f"{corrections}/digits-1", json={"corrected_label": 7}).status_code == 204
    assert client.post(f"{corrections}/apply").json() == {"dataset_version": 2}
    assert work(client, first, [0.3, 0.2, 0.1]) == "succeeded"
    later = ids_with(read(client, sweep["id"]), "queued")[0]
    versions = [client.get(f"/api/v1/runs/{i}").json()["config"]["dataset_version"] for i in (first, later)]
    assert versions == [1, 1]  # comparable trials; a new sweep trains on the corrected labels
    fresh = create(client, project_id, trials=1)
    run = client.get(f"/api/v1/runs/{ids_with(fresh, 'queued')[0]}").json()
    assert run["config"]["dataset_version"] == 2


def test_a_base_config_dataset_version_the_project_lacks_is_a_422_naming_it(
    client: TestClient, project_id: int
) -> None:
    body = {"project_id": project_id, "base_config": {"dataset_version": 5}, "space": SPACE}
    response = client.post("/api/v1/sweeps", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "base_config", "dataset_version"]
