"""Pages of sweeps over your own script: the form's free-form parameters, the sweep page's agent command,
and "try next" / "repeat with seeds" on a script run's page handing copies to an agent."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.tables import Sweep
from tests.factories import log_points, make_project, make_run
from tests.server.pages.html import attrs_of, csrf_token, texts


def _options(html: str, select_id: str) -> list[str | None]:
    start = html.index(f'id="{select_id}"')
    block = html[start : html.index("</select>", start)]
    return [a.get("value") for a in attrs_of(block, "option")]


def test_form_of_a_script_project_offers_only_the_script_target(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    html = client.get(f"/projects/{project.id}/sweeps/new").text
    assert _options(html, "target") == ["script"]
    assert 'id="space"' not in html  # no built-in model's parameters to tick
    assert [a.get("value") for a in attrs_of(html, "input") if (a.get("id") or "").startswith("sp_path_")][
        :2
    ] == ["lr", ""]
    zoo = make_project(session, name="digits")
    assert _options(client.get(f"/projects/{zoo.id}/sweeps/new").text, "target") == ["zoo", "script"]


def test_create_a_script_sweep_from_the_form(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    form = {
        "csrf_token": csrf_token(client),
        "target": "script",
        "name": "my lr search",
        "strategy": "random",
        "trials": "8",
        "early_stopping": "asha",
        "seed": "0",
        "sp_path_0": "optimizer.lr",
        "sp_dist_0": "log_uniform",
        "sp_low_0": "0.0001",
        "sp_high_0": "0.1",
        "sp_path_1": "batch_size",
        "sp_dist_1": "choice",
        "sp_choices_1": "32; 64",
        "sp_path_2": "",
        "sp_dist_2": "uniform",
    }
    response = client.post(f"/projects/{project.id}/sweeps", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    sweep = session.scalars(select(Sweep).where(Sweep.project_id == project.id)).one()
    assert (sweep.target, sweep.trials, sweep.base_config) == ("script", 8, {})
    assert sweep.space == {"optimizer.lr": {"log_uniform": [0.0001, 0.1]}, "batch_size": {"choice": [32, 64]}}

    page = client.get(response.headers["location"]).text
    assert texts(page, "message-success") == ["Sweep 'my lr search' started."]
    assert texts(page, "agent-command") == [
        f"TRAINBOARD_SERVER_URL=http://testserver trainboard agent {sweep.id} -- python train.py"
    ]


def test_a_bad_script_parameter_is_named_next_to_its_row(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    form = {
        "csrf_token": csrf_token(client),
        "target": "script",
        "trials": "4",
        "sp_path_0": "lr",
        "sp_dist_0": "log_uniform",
        "sp_low_0": "0.001",
        "sp_high_0": "0.1",
        "sp_path_1": "bad name",
        "sp_dist_1": "uniform",
        "sp_low_1": "0",
        "sp_high_1": "1",
    }
    response = client.post(f"/projects/{project.id}/sweeps", data=form)
    assert response.status_code == 422
    [error] = texts(response.text, "field-error")
    assert error.startswith("bad name: a parameter name is letters, digits")
    assert 'value="bad name"' in response.text  # the row keeps what was typed
    rows = [a for a in attrs_of(response.text, "tr") if a.get("data-prefix") == "sp_"]
    assert [a["data-index"] for a in rows if a.get("class") == "has-error"] == ["1"]
    assert session.scalars(select(Sweep)).all() == []


def test_try_next_on_a_script_run_opens_a_one_trial_sweep(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external", human_level_error=0.01)
    params = {"lr": 0.01, "epochs": 5}
    run = make_run(session, project, name="baseline", external=True, params=params, config={})
    log_points(session, run, {"train_error": [0.4, 0.3], "dev_error": [0.42, 0.33]})
    token = csrf_token(client)
    page = client.get(f"/runs/{run.id}").text
    forms = [a for a in attrs_of(page, "input") if a.get("name") == "path"]
    assert {a["value"] for a in forms} >= {"epochs"}  # "train longer" turns the script's own knob

    response = client.post(
        f"/runs/{run.id}/try-next",
        data={"csrf_token": token, "path": "epochs", "value": "10"},
        follow_redirects=False,
    )
    sweep = session.scalars(select(Sweep).where(Sweep.parent_run_id == run.id)).one()
    assert response.headers["location"] == f"/sweeps/{sweep.id}"
    assert (sweep.trials, sweep.space) == (1, {"lr": {"choice": [0.01]}, "epochs": {"choice": [10]}})
    sweep_page = client.get(f"/sweeps/{sweep.id}").text
    [message] = texts(sweep_page, "message-success")
    assert message.startswith(
        f"The copy of run #{run.id} with epochs = 10 waits in sweep 'baseline epochs=10'"
    )
    assert f"trainboard agent {sweep.id} -- python train.py" in sweep_page
    assert f'copies of <a href="/runs/{run.id}">run #{run.id}</a>' in sweep_page


def test_repeat_on_a_script_run_opens_a_sweep_of_seeds(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    run = make_run(session, project, name="base", external=True, params={"seed": 7}, config={})
    token = csrf_token(client)
    assert any(a.get("id") == "repeat-form" for a in attrs_of(client.get(f"/runs/{run.id}").text, "form"))

    response = client.post(f"/runs/{run.id}/repeat", data={"csrf_token": token}, follow_redirects=False)

    sweep = session.scalars(select(Sweep).where(Sweep.parent_run_id == run.id)).one()
    assert response.headers["location"] == f"/sweeps/{sweep.id}"
    assert sweep.space == {"seed": {"choice": [8, 9, 10]}} and sweep.trial_group == "base seeds"
    [message] = texts(client.get(f"/sweeps/{sweep.id}").text, "message-success")
    assert message.startswith("3 copies of run")


def test_a_crashed_trial_shows_its_stderr_tail_under_the_error(client: TestClient, session: Session) -> None:
    tail = 'Traceback (most recent call last):\n  File "train.py", line 9\nRuntimeError: <boom>\n'
    run = make_run(
        session,
        make_project(session, dataset="external"),
        external=True,
        status="failed",
        error="the command exited with status 1: RuntimeError: <boom>",
        log_tail=tail,
        config={},
    )
    page = client.get(f"/runs/{run.id}").text
    assert texts(page, "message-error") == ["Failed: the command exited with status 1: RuntimeError: <boom>"]
    assert "RuntimeError: &lt;boom&gt;\n</pre>" in page  # kept line by line, escaped
