"""`trainboard.init` as wandb and MLflow users expect it: config=, tags, notes, group, the human-level error,
run.config / run.summary / run.url, the module-level log and finish, resume, the disabled mode, and going
offline when the server cannot be reached."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import trainboard
from tests.test_client import FakeApi
from trainboard import _session
from trainboard.client import Client, DisabledRun, OfflineRun, Run
from trainboard.settings import get_settings


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A data folder of the test's own, TRAINBOARD_PROJECT and TRAINBOARD_MODE unset; no run left current."""
    monkeypatch.setenv("TRAINBOARD_HOME", str(tmp_path))
    monkeypatch.delenv("TRAINBOARD_PROJECT", raising=False)
    monkeypatch.delenv("TRAINBOARD_MODE", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    if _session.current is not None and not _session.current.finished:
        _session.current.finish()
    _session.current = None
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi) -> Client:
    return Client("http://tb.test", token="", transport=httpx.MockTransport(api), sleep=lambda _: None)


def created(api: FakeApi) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in api.requests if r.url.path == "/api/v1/runs"]


def test_init_sends_config_tags_notes_group_and_the_environment(api: FakeApi, client: Client) -> None:
    run = trainboard.init(
        project="mine",
        name="baseline",
        config={"lr": 0.01, "model.hidden": 64},
        tags=["resnet", "aug"],
        notes="First try.",
        group="lr 0.01",
        client=client,
    )
    [body] = created(api)
    assert body["params"] == {"lr": 0.01, "model.hidden": 64}
    assert (body["name"], body["tags"], body["notes"], body["group"]) == (
        "baseline", ["resnet", "aug"], "First try.", "lr 0.01"
    )  # fmt: skip
    assert body["environment"]["argv"] == sys.argv
    assert body["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(run, Run) and run.name == "baseline"


def test_params_is_an_alias_of_config_but_not_both(api: FakeApi, client: Client) -> None:
    trainboard.init(project="mine", params={"lr": 0.1}, client=client).finish()
    assert created(api)[0]["params"] == {"lr": 0.1}
    with pytest.raises(ValueError, match="give only one"):
        trainboard.init(project="mine", config={"lr": 0.1}, params={"lr": 0.2}, client=client)


def test_the_project_comes_from_trainboard_project_else_init_refuses(
    api: FakeApi, client: Client, settings: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="TRAINBOARD_PROJECT"):
        trainboard.init(client=client)
    assert api.requests == []
    settings.setenv("TRAINBOARD_PROJECT", "from-env")
    get_settings.cache_clear()
    trainboard.init(client=client).finish()
    assert [p["name"] for p in api.projects] == ["from-env"]


def test_human_level_error_sets_the_projects_once(api: FakeApi, client: Client) -> None:
    trainboard.init(project="mine", human_level_error=0.02, client=client).finish()
    trainboard.init(project="mine", human_level_error=0.02, client=client).finish()
    patches = [r for r in api.requests if r.method == "PATCH"]
    assert [json.loads(r.content) for r in patches] == [{"human_level_error": 0.02}]
    assert patches[0].url.path == "/api/v1/projects/1"
    assert api.projects[0]["human_level_error"] == 0.02


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tags": "baseline"}, "tags must be a list of strings"),
        ({"tags": ["x" * 101]}, "tags[0]: String should have at most 100 characters"),
        ({"tags": [f"t{i}" for i in range(51)]}, "tags: List should have at most 50 items"),
        ({"notes": "n" * 10_001}, "notes: String should have at most 10000 characters"),
        ({"mode": "shadow"}, "mode must be one of ('online', 'offline', 'disabled')"),
        ({"human_level_error": 8.0}, "human_level_error: Input should be less than or equal to 1"),
        ({"group": " "}, "group: String should have at least 1 character"),
        ({"name": "n" * 201}, "name: String should have at most 200 characters"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(
    api: FakeApi, client: Client, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        trainboard.init(project="mine", client=client, **fields)
    assert message in str(info.value)
    assert api.requests == []


def test_run_config_nests_dotted_keys_for_attribute_and_item_access(client: Client) -> None:
    run = trainboard.init(
        project="mine", config={"lr": 0.01, "model.hidden": 64, "model": {"depth": 3}}, client=client
    )
    assert run.config.lr == run.config["lr"] == 0.01
    assert run.config.model.hidden == run.config["model"]["hidden"] == run.config["model.hidden"] == 64
    assert run.config.model.depth == 3
    assert run.config.as_dict() == {"lr": 0.01, "model": {"hidden": 64, "depth": 3}}
    with pytest.raises(AttributeError, match="'momentum'"):
        _ = run.config.momentum
    with pytest.raises(TypeError, match="fixed when the run starts"):
        run.config.lr = 0.1
    with pytest.raises(ValueError, match="'model.hidden'"):
        trainboard.init(project="mine", config={"model": 1, "model.hidden": 64}, client=client)


def test_run_summary_is_the_latest_value_and_setting_one_sends_it(api: FakeApi, client: Client) -> None:
    run = trainboard.init(project="mine", client=client)
    for dev_error in (0.3, 0.2, 0.25):
        run.log({"dev_error": dev_error, "train_error": dev_error / 2})
    assert dict(run.summary) == {"dev_error": 0.25, "train_error": 0.125}
    run.summary["best_dev_error"] = 0.2
    run.summary["best_dev_error"] = 0.19  # set again in the same epoch: it still reaches the server
    run.summary["dev_error"] = 0.2  # overrides the logged value at a step after it
    assert run.summary["best_dev_error"] == 0.19
    run.finish()
    assert api.summary(7) == {"best_dev_error": 0.19, "dev_error": 0.2, "train_error": 0.125}
    assert api.metrics[(7, "dev_error", 3)] == 0.25  # the logged series is unchanged
    with pytest.raises(ValueError, match="error rates are fractions"):
        run.summary["dev_error"] = 8.0


def test_run_url_is_printed_at_start(capsys: pytest.CaptureFixture[str], client: Client) -> None:
    run = trainboard.init(project="mine", name="baseline", client=client)
    assert run.url == "http://tb.test/runs/7"
    assert capsys.readouterr().err.splitlines() == ["trainboard: run baseline at http://tb.test/runs/7"]


def test_module_level_log_and_finish_act_on_the_current_run(api: FakeApi, client: Client) -> None:
    assert trainboard.run is None
    with pytest.raises(RuntimeError, match=r"trainboard.init\(\) first"):
        trainboard.log({"loss": 1.0})
    run = trainboard.init(project="mine", client=client)
    assert trainboard.run is run
    trainboard.log({"loss": 1.0})
    trainboard.log({"loss": 0.5}, step=5)
    trainboard.finish()
    assert trainboard.run is None
    assert api.metrics == {(7, "loss", 1): 1.0, (7, "loss", 5): 0.5}
    assert api.finished[7] == ("succeeded", None)
    trainboard.finish()  # no run: nothing to do


def test_resume_goes_on_after_the_last_logged_step(api: FakeApi, client: Client) -> None:
    first = trainboard.init(project="mine", config={"lr": 0.1}, client=client)
    first.log({"loss": 1.0}, step=5)
    first.finish("failed", "killed")
    again = trainboard.init(project="mine", resume=7, client=client)
    assert again.id == 7 and again.config.lr == 0.1 and again.summary["loss"] == 1.0
    again.log({"loss": 0.5})
    again.finish()
    assert api.metrics[(7, "loss", 6)] == 0.5
    client.create_project("other")
    with pytest.raises(ValueError, match="run 7 is in project #1, not in 'other'"):
        trainboard.init(project="other", resume=7, client=client)


def test_the_same_script_resumed_keeps_its_config_and_may_add_tags(api: FakeApi, client: Client) -> None:
    trainboard.init(project="mine", config={"lr": 0.1, "model.depth": 2}, client=client).finish("failed")
    again = trainboard.init(
        project="mine", config={"lr": 0.1, "model": {"depth": 2}}, tags=["resumed"], resume=7, client=client
    )
    assert again.config.model.depth == 2 and api.runs[7]["tags"] == ["resumed"]
    again.finish()
    with pytest.raises(ValueError, match=r"another config \(it differs in \['lr'\]\)"):
        trainboard.init(project="mine", config={"lr": 0.2, "model.depth": 2}, resume=7, client=client)
    with pytest.raises(ValueError, match="run 7 is in group None, not 'seeds'"):
        trainboard.init(project="mine", group="seeds", resume=7, client=client)


def test_disabled_makes_every_call_a_no_op_without_any_request(settings: pytest.MonkeyPatch) -> None:
    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"disabled mode sent {request.method} {request.url}")

    settings.setenv("TRAINBOARD_MODE", "disabled")
    get_settings.cache_clear()
    client = Client("http://tb.test", token="", transport=httpx.MockTransport(no_network))
    with trainboard.init(config={"lr": 0.1, "model.depth": 2}, tags=["ci"], client=client) as run:
        assert isinstance(run, DisabledRun) and run.url is None and run.config.model.depth == 2
        assert run.should_stop is False  # a loop that checks it runs the same in every mode
        run.log({"dev_error": 0.1})
        trainboard.log({"dev_error": 0.05})
        run.summary["best"] = 0.05
        assert run.log_predictions("dev", [{"example_id": "a", "label": 1, "predicted": 0}]) == 1
        assert dict(run.summary) == {"dev_error": 0.05, "best": 0.05}
    assert run.finished


def test_an_unreachable_server_at_init_makes_the_run_offline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    attempts: list[float] = []
    asked: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        raise httpx.ConnectError("connection refused")

    client = Client("http://tb.test", token="", transport=httpx.MockTransport(refuse), sleep=attempts.append)
    run = trainboard.init(project="mine", config={"lr": 0.1}, tags=["away"], client=client)
    assert isinstance(run, OfflineRun) and run.config.lr == 0.1
    assert run.should_stop is False  # the README's loop checks it; offline, no server ever stops the run
    assert attempts == [0.5, 1.0]  # three attempts over a second and a half, then offline
    assert [r.url.path for r in asked] == ["/api/v1/health"] * 3
    assert {r.extensions["timeout"]["read"] for r in asked} == {5.0}  # a hung server holds init 5 s a try
    run.log({"loss": 1.0})
    run.finish()
    err = capsys.readouterr().err
    assert "trainboard: cannot reach http://tb.test" in err and "the run goes offline" in err
    assert f"offline run {run.id} kept in {tmp_path / 'spool'}" in err
    spec = json.loads((run.folder / "run.json").read_text())
    assert (spec["project"], spec["params"], spec["tags"], spec["id"]) == (
        "mine",
        {"lr": 0.1},
        ["away"],
        run.id,
    )


def test_a_refusal_at_init_is_not_hidden_by_going_offline(api: FakeApi, client: Client) -> None:
    api.failures = [403]
    with pytest.raises(trainboard.TrainboardError) as info:
        trainboard.init(project="mine", client=client)
    assert info.value.status_code == 403
