"""`trainboard agent` as a user runs it: real server and agent processes, each trial a real script
(tests/tiny_train.py) that logs through the client library."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import server_process, trainboard_env
from trainboard.client import Client

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parent / "tiny_train.py"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Client]]:
    env = trainboard_env(tmp_path / "home")
    with server_process(env, tmp_path / "server.log") as url, Client(server_url=url) as client:
        yield url, {**env, "TRAINBOARD_SERVER_URL": url}, client


def start_agent(env: dict[str, str], sweep_id: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "trainboard.cli", "agent", str(sweep_id), "--grace", "3", *extra]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, "--", sys.executable, str(SCRIPT)], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def script_sweep(client: Client, **fields: Any) -> dict[str, Any]:
    project = client.get_or_create_project("tiny")
    body = {"project_id": project["id"], "target": "script", "seed": 0, **fields}
    return client.request("POST", "/sweeps", json=body).json()  # type: ignore[union-attr]


def test_two_agents_share_a_sweep_and_asha_stops_trials(
    server: tuple[str, dict[str, str], Client], tmp_path: Path
) -> None:
    _, env, client = server
    early = {"rule": "asha", "min_epochs": 1, "eta": 2}
    sweep = script_sweep(client, space={"lr": {"log_uniform": [1e-4, 1.0]}}, trials=6, early_stopping=early)
    logs = [tmp_path / "agent-a.log", tmp_path / "agent-b.log"]
    agents = [start_agent(env, sweep["id"], log) for log in logs]
    assert [agent.wait(timeout=120) for agent in agents] == [0, 0], [log.read_text() for log in logs]
    texts = [log.read_text() for log in logs]
    done = client.get_sweep(sweep["id"])
    assert done["status"] == "finished", texts
    assert done["counts"]["total"] == 6 and done["counts"]["failed"] == 0, done["trials"]
    assert all(t["status"] == "succeeded" or t["stopped_early"] for t in done["trials"]), done["trials"]
    stopped = [t for t in done["trials"] if t["stopped_early"]]
    assert stopped and all(t["error"].startswith("stopped early by ASHA") for t in stopped)
    assert all("run #" in text for text in texts), texts  # both agents trained trials
    assert "was stopped on the server: stopping its command (SIGINT" in "".join(texts), texts
    for trial in done["trials"]:  # a script that finished its run itself was left to exit on its own
        exited = f"run {trial['id']} exits on its own" in "".join(texts)
        assert exited == (trial["status"] == "succeeded"), (trial, texts)
    # Each trial's script attached to its run: the values it logged follow its own sampled lr.
    best = client.get_run(done["best_run_id"])
    assert best["status"] == "succeeded" and best["summary"]["dev_error"] < min(
        t["summary"]["dev_error"] for t in stopped
    )


def test_two_agents_racing_for_the_last_trial_exactly_one_gets_it(
    server: tuple[str, dict[str, str], Client], tmp_path: Path
) -> None:
    _, env, client = server
    sweep = script_sweep(client, space={"lr": {"choice": [0.01]}}, trials=1)
    logs = [tmp_path / "agent-a.log", tmp_path / "agent-b.log"]
    agents = [start_agent(env, sweep["id"], log) for log in logs]
    assert [agent.wait(timeout=60) for agent in agents] == [0, 0]
    texts = [log.read_text() for log in logs]
    assert sorted("run #" in text for text in texts) == [False, True], texts
    assert any("no trial left to hand out" in text for text in texts), texts
    done = client.get_sweep(sweep["id"])
    assert done["counts"]["total"] == 1 and done["trials"][0]["status"] == "succeeded"


def test_a_crashed_trial_fails_with_its_stderr_and_the_agent_goes_on(
    server: tuple[str, dict[str, str], Client], tmp_path: Path
) -> None:
    _, env, client = server
    space = {"crash": {"choice": [True, False]}, "lr": {"choice": [0.01]}}
    sweep = script_sweep(client, space=space, strategy="grid")
    agent = start_agent(env, sweep["id"], tmp_path / "agent.log")
    assert agent.wait(timeout=60) == 0, (tmp_path / "agent.log").read_text()
    crashed, fine = client.get_sweep(sweep["id"])["trials"]
    assert crashed["params"]["crash"] is True and crashed["status"] == "failed"
    assert crashed["error"] == "RuntimeError: boom at lr=0.01"
    run = client.get_run(crashed["id"])
    assert run["log_tail"].startswith("Traceback (most recent call last):")
    assert run["log_tail"].rstrip().endswith("RuntimeError: boom at lr=0.01")
    assert fine["status"] == "succeeded"
    assert "RuntimeError: boom at lr=0.01" in (tmp_path / "agent.log").read_text()  # echoed as it came


def test_an_agent_refuses_a_sweep_it_cannot_run_with_one_line(
    server: tuple[str, dict[str, str], Client], tmp_path: Path
) -> None:
    _, env, client = server
    zoo_project = client.create_project("zoo", dataset="digits")
    body = {"project_id": zoo_project["id"], "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}}}
    zoo = client.request("POST", "/sweeps", json={**body, "trials": 1}).json()  # type: ignore[union-attr]
    finished = script_sweep(client, space={"lr": {"choice": [0.01]}}, trials=1)
    trial = client.next_trial(finished["id"])
    assert trial is not None
    client.finish_run(trial["id"], "succeeded")
    cases = {
        999: "trainboard agent: sweep 999 not found on ",
        zoo["id"]: f"trainboard agent: sweep {zoo['id']} ({zoo['name']}) trains built-in models",
        finished["id"]: f"trainboard agent: sweep {finished['id']} ({finished['name']}) is finished",
    }
    for sweep_id, start in cases.items():
        log = tmp_path / f"agent-{sweep_id}.log"
        assert start_agent(env, sweep_id, log).wait(timeout=60) == 1
        lines = log.read_text().splitlines()
        assert len(lines) == 1 and lines[0].startswith(start), lines


def test_a_command_that_cannot_start_fails_its_trial_and_stops_the_agent(
    server: tuple[str, dict[str, str], Client], tmp_path: Path
) -> None:
    _, env, client = server
    sweep = script_sweep(client, space={"lr": {"choice": [0.01]}}, trials=3)
    command = [sys.executable, "-m", "trainboard.cli", "agent", str(sweep["id"]), "--", "no-such-trainer"]
    done = subprocess.run(command, env=env, capture_output=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[-1] == (
        "trainboard agent: cannot run 'no-such-trainer': No such file or directory"
    )
    [trial] = client.get_sweep(sweep["id"])["trials"]
    assert (
        trial["status"] == "failed"
        and trial["error"] == "cannot run 'no-such-trainer': No such file or directory"
    )
