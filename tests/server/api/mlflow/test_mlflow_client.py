"""The official MLflow client, unchanged, against a real Trainboard server (SQLite and PostgreSQL, auth off
and on): every call of the supported subset, then the same run read through Trainboard's own API with its
ladder. The client runs in its own virtual environment (`make mlflow-client`): its pins clash with ours."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import IN_CI, postgres_schema
from tests.processes import admin_token, server_process, trainboard_env
from trainboard.client import Client

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[4]
MLFLOW_PYTHON = ROOT / ".venv-mlflow-client" / "bin" / "python"
SCRIPT = Path(__file__).with_name("mlflow_script.py")
EXPERIMENT = "mlflow-compat"


def mlflow_python() -> Path:
    if not MLFLOW_PYTHON.exists():
        message = f"MLflow's client is not installed at {MLFLOW_PYTHON}: run `make mlflow-client`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return MLFLOW_PYTHON


def run_script(url: str, token: str | None, **extra: str) -> dict:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRAINBOARD_"))}
    env.update({"MLFLOW_TRACKING_URI": url, "EXPERIMENT": EXPERIMENT, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    env.update(extra)
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    done = subprocess.run(
        [str(mlflow_python()), str(SCRIPT)], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def postgres_schema_url():  # type: ignore[no-untyped-def]
    with postgres_schema("tb_mlflow") as url:
        yield url


@pytest.mark.parametrize("backend", ["sqlite", "sqlite+auth", "postgresql"])
def test_unchanged_mlflow_script_logs_to_trainboard(backend: str, tmp_path: Path, request) -> None:  # type: ignore[no-untyped-def]
    settings = {"auth": "on"} if backend.endswith("auth") else {}
    if backend.startswith("postgresql"):
        settings["database_url"] = request.getfixturevalue("postgres_schema_url")
    env = trainboard_env(tmp_path / "home", **settings)
    token = admin_token(env) if "auth" in settings else None
    with (
        server_process(env, tmp_path / "server.log") as url,
        Client(server_url=url, token=token or "") as client,
    ):
        # The experiment exists in Trainboard first: its project maps the script's own name for dev error.
        client.create_project(name=EXPERIMENT, dataset="external", metric_aliases={"val_error": "dev_error"})
        if token:
            assert run_script(url, None, EXPECT="UNAUTHENTICATED") == {"refused": True}
        ids = run_script(url, token)
        run = client.get_run(int(ids["run_id"]))
        assert run["status"] == "succeeded" and run["name"] == "baseline"
        assert run["params"] == {"lr": "0.01", "batch_size": "32", "optimizer": "adam"}
        assert run["summary"]["dev_error"] == pytest.approx(0.015 / 5)  # val_error, through the alias
        assert run["summary"]["train_loss"] == pytest.approx(0.02 / 5)  # the resent 99.0 was not stored
        diagnosis = client.request("GET", f"/runs/{run['id']}/diagnosis").json()
        assert diagnosis["train_error"] == pytest.approx(0.01 / 5)
        assert diagnosis["dev_error"] == pytest.approx(0.015 / 5)
        assert diagnosis["primary"] in ("avoidable_bias", "variance", "none")
        files = client.request("GET", f"/runs/{run['id']}/artifacts").json()  # MLflow's files are the run's
        assert [(f["path"], f["size"]) for f in files] == [("notes.txt", 13), ("plots/curve.csv", 16)]
        # The CLI imports what MLflow's client logged (an MLflow server as far as it knows), once.
        command = [sys.executable, "-m", "trainboard.cli", "import", "mlflow", "--tracking-uri", url]
        command += ["--experiment", EXPERIMENT, "--project", "imported"] + (
            ["--tracking-token", token] if token else []
        )
        cli_env = {**env, "TRAINBOARD_SERVER_URL": url, "TRAINBOARD_API_TOKEN": token or ""}
        for new in (3, 0):
            done = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr[-3000:]
            assert f"imported 3 runs ({new} new, {3 - new} already there)" in done.stdout
            assert "importing mlflow" in done.stderr and "3/3" in done.stderr  # the progress bar
        imported = client.request("GET", "/projects", params={"name": "imported"}).json()["items"][0]
        assert imported["run_count"] == 3
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log[-3000:]
