"""The new-run form and the run page."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.datasets import BUILTIN_DATASETS
from server.tables import Run
from tests.factories import log_points, log_predictions, make_project, make_run
from tests.server.pages.html import attrs_of, csrf_token, table_rows, texts


def _page_data(html: str) -> dict:  # type: ignore[type-arg]
    block = html.split('<script type="application/json" id="run-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(block)  # type: ignore[no-any-return]


def _value(html: str, name: str) -> str | None:
    for attributes in attrs_of(html, "input"):
        if attributes.get("name") == name:
            return attributes.get("value")
    raise AssertionError(f"no input named {name!r}")


def test_new_run_form_shows_dataset_defaults_and_help(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="wine")

    response = client.get(f"/projects/{project.id}/runs/new")

    assert response.status_code == 200
    # wine's catalog defaults, then the schema's
    defaults = BUILTIN_DATASETS["wine"].default_hparams
    assert _value(response.text, "hp_epochs") == str(defaults["epochs"])
    assert _value(response.text, "hp_lr") == f"{defaults['lr']:g}"
    assert _value(response.text, "hp_keep_prob") == "1"
    assert _value(response.text, "m_mlp_hidden") == "64"
    models = [
        a.get("value") for a in attrs_of(response.text, "option") if a.get("value") in ("mlp", "softmax")
    ]
    assert models == ["softmax", "mlp"]
    assert "lenet5" not in response.text  # an image model does not fit tabular data
    help_texts = texts(response.text, "help")
    assert "Learning rate (range > 0 and ≤ 10)." in help_texts
    assert "Dropout keep probability (1 = no dropout) (range > 0 and ≤ 1)." in help_texts


def test_new_run_form_starts_from_a_parent_config(client: TestClient, session: Session) -> None:
    project = make_project(session)
    parent = make_run(
        session, project, config={"model": {"name": "mlp", "hidden": [128, 32]}, "hparams": {"lr": 0.05}}
    )

    response = client.get(f"/projects/{project.id}/runs/new?parent={parent.id}")

    assert _value(response.text, "m_mlp_hidden") == "128,32"
    assert _value(response.text, "hp_lr") == "0.05"
    assert _value(response.text, "parent_id") == str(parent.id)


def test_create_run_from_form_queues_it(client: TestClient, session: Session) -> None:
    project = make_project(session)
    token = csrf_token(client)

    response = client.post(
        f"/projects/{project.id}/runs",
        data={
            "csrf_token": token,
            "name": "wide",
            "model": "mlp",
            "m_mlp_hidden": "64, 64",
            "m_mlp_activation": "tanh",
            "hp_lr": "0.01",
            "hp_epochs": "5",
            "hp_optimizer": "momentum",
        },
        follow_redirects=False,
    )

    assert response.status_code == 303
    run = session.scalars(select(Run).where(Run.project_id == project.id)).one()
    assert response.headers["location"] == f"/runs/{run.id}"
    assert (run.name, run.status) == ("wide", "queued")
    assert run.config["model"] == {
        **run.config["model"],
        "name": "mlp",
        "hidden": [64, 64],
        "activation": "tanh",
    }
    hparams = run.config["hparams"]
    assert (hparams["lr"], hparams["epochs"], hparams["optimizer"], hparams["batch_size"]) == (
        0.01,
        5,
        "momentum",
        64,
    )
    page = client.get(response.headers["location"])
    assert texts(page.text, "message-success") == ["Run 'wide' queued: a worker will pick it up."]


def test_create_softmax_run_ignores_other_models_inputs(client: TestClient, session: Session) -> None:
    project = make_project(session)
    token = csrf_token(client)

    response = client.post(
        f"/projects/{project.id}/runs",
        data={"csrf_token": token, "model": "softmax", "m_mlp_hidden": "not used"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    run = session.scalars(select(Run)).one()
    assert run.config["model"] == {"name": "softmax"}
    assert run.config["hparams"]["epochs"] == 30


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"hp_lr": "-0.1"}, "Learning rate (hparams.lr): Input should be greater than 0"),
        ({"hp_lr": "fast"}, "Learning rate (hparams.lr): Input should be a valid number"),
        ({"hp_keep_prob": "1.5"}, "Dropout keep probability (hparams.keep_prob): Input should be less than"),
        ({"hp_optimizer": "lbfgs"}, "Optimizer (hparams.optimizer): Input should be 'sgd'"),
        (
            {"m_mlp_hidden": "64,abc"},
            "Hidden layer sizes (model.hidden): enter whole numbers separated by commas",
        ),
        (
            {"m_mlp_hidden": "64,0"},
            "Hidden layer sizes (model.hidden): Input should be greater than or equal to 1",
        ),
        ({"model": "transformer"}, "Model (model.name): choose one of"),
    ],
)
def test_create_run_with_bad_input_rerenders_naming_the_field(
    client: TestClient, session: Session, fields: dict[str, str], expected: str
) -> None:
    project = make_project(session)
    token = csrf_token(client)

    response = client.post(
        f"/projects/{project.id}/runs", data={"csrf_token": token, "model": "mlp", "hp_epochs": "7", **fields}
    )

    assert response.status_code == 422
    errors = texts(response.text, "field-error")
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    assert _value(response.text, "hp_epochs") == "7"  # what was typed is kept
    assert session.scalars(select(Run)).all() == []


def test_new_run_for_an_external_project_explains_instead_of_a_form(
    client: TestClient, session: Session
) -> None:
    project = make_project(session, dataset="external")

    response = client.get(f"/projects/{project.id}/runs/new")

    assert response.status_code == 200
    assert 'id="new-run-form"' not in response.text
    assert "external" in response.text


def test_run_page_shows_status_config_summary_and_charts(client: TestClient, session: Session) -> None:
    project = make_project(session, name="digits <b>bold</b>", human_level_error=0.01)
    parent = make_run(session, project, name="parent")
    run = make_run(session, project, name="best", parent_id=parent.id, params={"note": "<i>x</i>"})
    log_points(
        session,
        run,
        {
            "train_error": [0.2, 0.05],
            "dev_error": [0.25, 0.08],
            "train_loss": [0.9, 0.2],
            "dev_loss": [1.0, 0.3],
        },
    )

    response = client.get(f"/runs/{run.id}")

    assert response.status_code == 200
    assert texts(response.text, "badge") == ["succeeded"]
    assert table_rows(response.text, "summary") == [
        ["train_error", "5.00 %"],
        ["dev_error", "8.00 %"],
        ["train_loss", "0.2"],
        ["dev_loss", "0.3"],
    ]
    config = table_rows(response.text, "config")
    assert ["model.name", "mlp"] in config and ["model.hidden", "64"] in config
    assert ["hparams.lr", "0.01"] in config and ["hparams.epochs", "3"] in config
    assert table_rows(response.text, "params") == [["note", "<i>x</i>"]]
    assert 'id="error-chart"' in response.text and 'id="loss-chart"' in response.text
    scripts = [a.get("src") for a in attrs_of(response.text, "script")]
    # The ladder's JSON, the page's JSON, then the page scripts (no inline code: the CSP forbids it); run.js
    # before Plotly, so that its first read is on its way while the browser parses the chart library.
    assert scripts == [
        None,
        None,
        "/static/app.js",
        "/static/chart_math.js",
        "/static/run.js",
        "/static/vendor/plotly-cartesian.min.js",
        "/static/diagnosis.js",
    ]
    assert '<script type="application/json" id="run-data">' in response.text
    # A run with few keys: the head preloads the one read that fills every chart, which run.js then makes.
    (preload,) = [a for a in attrs_of(response.text, "link") if a.get("rel") == "preload"]
    first = _page_data(response.text)["first_read"]
    assert first["keys"] == ["train_error", "dev_error", "train_loss", "dev_loss"]
    assert preload["href"] == first["url"] and preload["as"] == "fetch"
    read = client.get(first["url"])
    assert read.status_code == 200
    assert [series["key"] for series in read.json()["series"]] == first["keys"]
    assert f'href="/runs/{parent.id}"' in response.text and f'href="/projects/{project.id}"' in response.text
    assert "digits &lt;b&gt;bold&lt;/b&gt;" in response.text
    assert f'action="/runs/{run.id}/cancel"' not in response.text  # no cancel button once finished


def test_run_page_with_many_keys_preloads_its_canonical_keys_only(
    client: TestClient, session: Session
) -> None:
    project = make_project(session)
    many = make_run(session, project, name="many")
    log_points(session, many, {"dev_error": [0.3, 0.2], **{f"layer/{i:02d}": [1.0, 0.5] for i in range(30)}})
    none_canonical = make_run(session, project, name="own keys")
    log_points(session, none_canonical, {f"layer/{i:02d}": [1.0, 0.5] for i in range(30)})

    first = _page_data(client.get(f"/runs/{many.id}").text)["first_read"]
    # 31 keys: the first read (and the preload) holds the error chart's keys; the 30 others follow.
    assert first["keys"] == ["dev_error"]
    assert first["url"] == f"/api/v1/runs/{many.id}/metrics?keys=dev_error&max_points=2000"
    page = client.get(f"/runs/{none_canonical.id}").text
    # No canonical key and too many to read at once: run.js picks its first charts; nothing is preloaded.
    assert _page_data(page)["first_read"] is None
    assert not [a for a in attrs_of(page, "link") if a.get("rel") == "preload"]


def test_run_page_of_running_run_has_progress_and_cancel(client: TestClient, session: Session) -> None:
    project = make_project(session)
    run = make_run(
        session,
        project,
        status="running",
        progress={"epoch": 4, "epochs": 20, "eta_s": 200, "examples_per_sec": 1500},
    )

    response = client.get(f"/runs/{run.id}")

    assert '<progress id="run-progress" max="20" value="4">' in response.text
    assert texts(response.text, "live")  # the live panel is shown
    assert "3 min 20 s" in response.text and "1,500" in response.text
    assert f'action="/runs/{run.id}/cancel"' in response.text
    assert re.search(r'"active": true', response.text)


def test_run_page_shows_why_a_run_failed(client: TestClient, session: Session) -> None:
    project = make_project(session)
    run = make_run(session, project, status="diverged", error="loss became NaN at epoch 3 <lr too high>")

    response = client.get(f"/runs/{run.id}")

    assert texts(response.text, "message-error") == ["Diverged: loss became NaN at epoch 3 <lr too high>"]


def test_run_page_lists_misclassified_dev_examples(client: TestClient, session: Session) -> None:
    project = make_project(session)
    run = make_run(session, project)
    rows = [(f"digits-{i}", i % 10, (i + 1) % 10, 0.5 + i / 100) for i in range(30)]
    log_predictions(session, run, [*rows, ("digits-99", 3, 3, 0.99)])

    response = client.get(f"/runs/{run.id}")

    table = [
        t for t in re.findall(r'<section class="card" id="misclassified">.*?</section>', response.text, re.S)
    ]
    assert len(table) == 1
    assert "The 20 most confident mistakes of 30 on the dev split." in table[0]
    assert table[0].count("<tr>") == 21  # header + 20
    assert "digits-29" in table[0] and "digits-99" not in table[0]


def test_cancel_run_from_its_page(client: TestClient, session: Session) -> None:
    project = make_project(session)
    run = make_run(session, project, status="queued")
    token = csrf_token(client)

    first = client.post(f"/runs/{run.id}/cancel", data={"csrf_token": token})
    again = client.post(f"/runs/{run.id}/cancel", data={"csrf_token": token})

    session.refresh(run)
    assert run.status == "cancelled"
    assert texts(first.text, "message-info") == [f"Run '{run.name}' cancelled."]
    assert texts(again.text, "message-warning") == [f"Run {run.id} is already cancelled"]


def test_unknown_run_is_a_404_page(client: TestClient) -> None:
    response = client.get("/runs/424242")

    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "<h1>Not found</h1>" in response.text
    assert "Run 424242 not found" in response.text


def test_static_assets_are_served_locally(client: TestClient) -> None:
    for path in ("/static/app.css", "/static/app.js", "/static/run.js", "/static/logo.svg"):
        assert client.get(path).status_code == 200, path
    plotly = client.get("/static/vendor/plotly-cartesian.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000


def _sweep_of_one_at_a_time(client: TestClient, name: str) -> dict:
    """A sweep of 3 trials run one at a time: its first trial is queued, the others wait for it."""
    project = client.post("/api/v1/projects", json={"name": name, "dataset": "digits"}).json()
    body = {
        "project_id": project["id"],
        "base_config": {"hparams": {"epochs": 2}},
        "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}},
        "trials": 3,
        "parallelism": 1,
    }
    response = client.post("/api/v1/sweeps", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _queued(client: TestClient, sweep_id: int) -> list[int]:
    trials = client.get(f"/api/v1/sweeps/{sweep_id}").json()["trials"]
    return [trial["id"] for trial in trials if trial["status"] == "queued"]


def test_cancelling_a_sweep_trial_from_its_page_queues_the_next_as_the_api_does(client: TestClient) -> None:
    by_page, by_api = _sweep_of_one_at_a_time(client, "by-page"), _sweep_of_one_at_a_time(client, "by-api")
    (page_trial,) = _queued(client, by_page["id"])
    (api_trial,) = _queued(client, by_api["id"])

    response = client.post(f"/runs/{page_trial}/cancel", data={"csrf_token": csrf_token(client)})
    assert client.post(f"/api/v1/runs/{api_trial}/cancel").status_code == 200

    assert texts(response.text, "message-info") == [f"Run 'sweep-{by_page['id']}-t1' cancelled."]
    page_next, api_next = _queued(client, by_page["id"]), _queued(client, by_api["id"])
    assert len(page_next) == len(api_next) == 1 and page_next != [page_trial]
    page_sweep = client.get(f"/api/v1/sweeps/{by_page['id']}").json()
    api_sweep = client.get(f"/api/v1/sweeps/{by_api['id']}").json()
    assert page_sweep["counts"] == api_sweep["counts"]
