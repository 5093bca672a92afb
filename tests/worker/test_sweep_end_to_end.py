"""A sweep of three short trials on a real server and a real Celery worker, with ASHA on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes import server_process, trainboard_env, wait_until, worker_process
from trainboard.client import Client

pytestmark = pytest.mark.e2e


def test_sweep_trials_are_trained_by_a_real_worker(tmp_path: Path) -> None:
    env = trainboard_env(tmp_path / "home", reaper_interval_s="2")
    with (
        server_process(env, tmp_path / "server.log") as url,
        worker_process(env, url, tmp_path / "worker.log"),
        Client(server_url=url) as client,
    ):
        project = client.create_project(name="digits sweep e2e", dataset="digits")
        body = {
            "project_id": project["id"],
            "base_config": {"model": {"name": "mlp", "hidden": [16]}, "hparams": {"epochs": 2}},
            "space": {
                "hparams.lr": {"log_uniform": [1e-3, 1e-1]},
                "hparams.batch_size": {"choice": [32, 128]},
            },
            "trials": 3,
            "parallelism": 2,
            "early_stopping": {"rule": "asha", "min_epochs": 1, "eta": 2},
            "seed": 3,
        }
        sweep = client.request("POST", "/sweeps", json=body).json()
        assert sweep["counts"]["queued"] == 2

        def finished() -> dict | None:  # type: ignore[type-arg]
            current = client.request("GET", f"/sweeps/{sweep['id']}").json()
            return current if current["status"] == "finished" else None

        done = wait_until(finished, 240, "the sweep to finish", interval=0.5)
        logs = (tmp_path / "worker.log").read_text()[-3000:]
        statuses = [trial["status"] for trial in done["trials"]]
        assert len(statuses) == 3, logs
        assert all(
            s == "succeeded" or t["stopped_early"] for s, t in zip(statuses, done["trials"], strict=True)
        ), f"{done['trials']}\n{logs}"
        best = client.get_run(done["best_run_id"])
        assert best["status"] == "succeeded" and best["sweep_id"] == sweep["id"]
        assert best["summary"]["dev_error"] == min(
            t["summary"]["dev_error"] for t in done["trials"] if t["status"] == "succeeded"
        )
        for trial in done["trials"]:
            run = client.get_run(trial["id"])
            assert run["config"]["hparams"]["lr"] == trial["params"]["hparams.lr"]
            assert run["config"]["hparams"]["epochs"] == 2
