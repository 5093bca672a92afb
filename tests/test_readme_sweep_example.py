"""The README's "Sweep your own script" example, run as a user would: its script on its own, then under
`trainboard agent` for a script sweep, against a real server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import server_process, trainboard_env
from trainboard.client import Client

pytestmark = pytest.mark.e2e

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def example_script() -> str:
    section = README[README.index("## Sweep your own script") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the section has no python example"
    return match.group(1)


def test_the_readme_example_logs_the_ladder_and_runs_under_two_agents(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(example_script())
    env = trainboard_env(tmp_path / "home")
    with server_process(env, tmp_path / "server.log") as url, Client(server_url=url) as client:
        env = {**env, "TRAINBOARD_SERVER_URL": url}
        alone = subprocess.run(
            [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, timeout=120
        )
        assert alone.returncode == 0, alone.stderr.decode()[-3000:]
        project = client.find_project("spirals")
        assert project is not None
        [baseline] = client.request("GET", "/runs", params={"project_id": project["id"]}).json()["items"]  # type: ignore[union-attr]
        diagnosis = client.request("GET", f"/runs/{baseline['id']}/diagnosis").json()  # type: ignore[union-attr]
        assert baseline["status"] == "succeeded" and diagnosis["primary"] != "unknown"
        assert diagnosis["split_sizes"]["dev"] == 600

        body = {
            "project_id": project["id"],
            "target": "script",
            "trials": 4,
            "space": {
                "optimizer.lr": {"log_uniform": [0.001, 1]},
                "hidden": {"choice": [8, 32]},
                "epochs": {"choice": [6]},
            },
            "early_stopping": {"rule": "asha", "min_epochs": 2, "eta": 3},
        }
        sweep = client.request("POST", "/sweeps", json=body).json()  # type: ignore[union-attr]
        command = [sys.executable, "-m", "trainboard.cli", "agent", str(sweep["id"]), "--"]
        agents = [
            subprocess.Popen(
                [*command, sys.executable, str(script)],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        outputs = [agent.communicate(timeout=240)[0].decode() for agent in agents]
        assert [agent.returncode for agent in agents] == [0, 0], outputs
        done = client.get_sweep(sweep["id"])
        assert done["status"] == "finished" and done["counts"]["failed"] == 0, (done["trials"], outputs)
        for trial in done["trials"]:
            run = client.get_run(trial["id"])
            assert {"train_error", "train_dev_error", "dev_error", "test_error"} <= set(run["summary"])
            assert run["summary"]["dev_examples"] == 600
            assert trial["status"] == "succeeded" or trial["stopped_early"], trial
            if trial["status"] == "succeeded":  # trained the sweep's 6 epochs, not the script's default 30
                points = client.request("GET", f"/runs/{trial['id']}/metrics/dev_error").json()["points"]  # type: ignore[union-attr]
                assert points[-1][0] == 6
