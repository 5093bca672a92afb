"""Sweep pages: the new-sweep form (and its errors), the sweep page's trials, best trial and actions."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.pages.sweep_form import param_rows
from server.tables import Run, Sweep
from tests.factories import log_points, make_project
from tests.server.pages.html import attrs_of, csrf_token, table_rows, texts

PARAMS = param_rows("mlp")
LR = next(i for i, row in enumerate(PARAMS) if row.path == "hparams.lr")
HIDDEN = next(i for i, row in enumerate(PARAMS) if row.path == "model.hidden")


def test_new_sweep_form_lists_searchable_parameters(client: TestClient, session: Session) -> None:
    project = make_project(session)
    response = client.get(f"/projects/{project.id}/sweeps/new")
    assert response.status_code == 200
    rows = table_rows(response.text, "space")
    assert [row[1] for row in rows[:2]] == ["Learning ratehparams.lr", "Batch sizehparams.batch_size"]
    checked = [
        a["id"] for a in attrs_of(response.text, "input") if a.get("type") == "checkbox" and "checked" in a
    ]
    assert checked == [f"on_{LR}"]


def test_create_sweep_from_form(client: TestClient, session: Session) -> None:
    project = make_project(session)
    form = {
        "csrf_token": csrf_token(client),
        "name": "form sweep",
        "strategy": "random",
        "trials": "4",
        "parallelism": "2",
        "early_stopping": "asha",
        "seed": "1",
        "base_epochs": "3",
        "base_hidden": "32",
        f"on_{LR}": "true",
        f"dist_{LR}": "log_uniform",
        f"low_{LR}": "0.001",
        f"high_{LR}": "0.1",
        f"on_{HIDDEN}": "true",
        f"dist_{HIDDEN}": "choice",
        f"choices_{HIDDEN}": "[16]; [32, 32]",
    }
    response = client.post(f"/projects/{project.id}/sweeps", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    sweep = session.scalars(select(Sweep).where(Sweep.project_id == project.id)).one()
    assert response.headers["location"] == f"/sweeps/{sweep.id}"
    assert sweep.space == {
        "hparams.lr": {"log_uniform": [0.001, 0.1]},
        "model.hidden": {"choice": [[16], [32, 32]]},
    }
    assert sweep.early_stopping is not None and sweep.early_stopping["rule"] == "asha"
    assert sweep.base_config == {
        "model": {"name": "mlp", "hidden": [32]},
        "hparams": {"epochs": 3},
        "dataset_version": 1,  # pinned: every trial trains on the labels the sweep began with
    }


def test_form_error_names_the_parameter(client: TestClient, session: Session) -> None:
    project = make_project(session)
    form = {
        "csrf_token": csrf_token(client),
        "trials": "4",
        f"on_{LR}": "true",
        f"dist_{LR}": "log_uniform",
        f"low_{LR}": "0",
        f"high_{LR}": "0.1",
    }
    response = client.post(f"/projects/{project.id}/sweeps", data=form)
    assert response.status_code == 422
    assert texts(response.text, "field-error") == [
        "hparams.lr: log_uniform needs positive bounds, but got low=0.0"
    ]
    assert session.scalars(select(Sweep)).all() == []


def test_sweep_page_shows_trials_best_and_importance(client: TestClient, session: Session) -> None:
    project = make_project(session)
    body = {
        "project_id": project.id,
        "name": "page sweep",
        "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}},
        "trials": 2,
        "parallelism": 2,
    }
    sweep_id = client.post("/api/v1/sweeps", json=body).json()["id"]
    trials = session.scalars(select(Run).where(Run.sweep_id == sweep_id).order_by(Run.id)).all()
    for run, error in zip(trials, (0.2, 0.1), strict=True):
        log_points(session, run, {"dev_error": [error], "train_error": [error / 2]})
        client.post(f"/api/v1/runs/{run.id}/start", json={})
        client.post(f"/api/v1/runs/{run.id}/finish", json={"status": "succeeded"})

    response = client.get(f"/sweeps/{sweep_id}")
    assert response.status_code == 200
    rows = table_rows(response.text, "trials")
    assert [(row[0], row[1], row[3]) for row in rows] == [
        (trials[0].name, "succeeded", "20.00 %"),  # an error key in percent, as on every other page
        (trials[1].name, "succeeded", "10.00 %"),
    ]
    assert f'href="/runs/{trials[1].id}" id="best-link"' in response.text
    data = json.loads(response.text.split('id="sweep-data">')[1].split("</script>")[0])
    assert data["best_run_id"] == trials[1].id
    assert data["scales"] == {"hparams.lr": "log"}
    assert data["best_so_far"]["value"][-1] == 0.1  # fractions in the data; the charts draw percent
    assert data["percent"] is True
    actions = [
        a["action"] for a in attrs_of(response.text, "form") if a.get("action", "").startswith("/sweeps/")
    ]
    assert actions == [f"/sweeps/{sweep_id}/zoom"]  # finished: nothing to pause or cancel


def test_zoom_from_the_page_ranks_only_trials_that_meet_the_constraints(
    client: TestClient, session: Session
) -> None:
    project = make_project(session, satisficing=[{"metric": "latency_ms_b1", "max": 10.0}])
    body = {"project_id": project.id, "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}}, "trials": 1}
    sweep_id = client.post("/api/v1/sweeps", json=body).json()["id"]
    (run,) = session.scalars(select(Run).where(Run.sweep_id == sweep_id)).all()
    log_points(session, run, {"dev_error": [0.1], "latency_ms_b1": [50.0]})
    client.post(f"/api/v1/runs/{run.id}/start", json={})
    client.post(f"/api/v1/runs/{run.id}/finish", json={"status": "succeeded"})

    page = client.get(f"/sweeps/{sweep_id}")
    assert texts(page.text, "zoom-note") == [
        "Zoom in ranks only the succeeded trials that meet every constraint (latency_ms_b1 ≤ 10): the new "
        "sweep's ranges shrink around the best 3 of them, so it waits for one."
    ]
    actions = [a["action"] for a in attrs_of(page.text, "form") if a.get("action", "").startswith("/sweeps/")]
    assert actions == []  # no feasible trial: no zoom button
    # A page opened before the trial finished still has the button: the refusal says why.
    token = csrf_token(client)
    response = client.post(f"/sweeps/{sweep_id}/zoom", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert texts(client.get(response.headers["location"]).text, "message-warning") == [
        f"Sweep {sweep_id} has no succeeded trial that meets every satisficing constraint "
        "(latency_ms_b1 ≤ 10): zoom-in ranks only the trials that do"
    ]
    assert session.scalars(select(Sweep).where(Sweep.project_id == project.id)).all() == [
        session.get(Sweep, sweep_id)
    ]


def test_pause_from_the_page(client: TestClient, session: Session) -> None:
    project = make_project(session)
    body = {"project_id": project.id, "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}}, "trials": 3}
    sweep_id = client.post("/api/v1/sweeps", json=body).json()["id"]
    token = csrf_token(client)
    response = client.post(f"/sweeps/{sweep_id}/pause", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert session.get(Sweep, sweep_id).status == "paused"  # type: ignore[union-attr]
    listing = client.get(f"/projects/{project.id}/sweeps")
    assert [row[:2] for row in table_rows(listing.text, "sweeps")] == [[f"sweep-{sweep_id}", "paused"]]


def test_unknown_sweep_page_is_404(client: TestClient) -> None:
    assert client.get("/sweeps/999").status_code == 404


def test_sweep_page_says_which_trials_tie_with_the_best(client: TestClient, session: Session) -> None:
    project = make_project(session)
    body = {"project_id": project.id, "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}}, "trials": 3}
    body["parallelism"] = 3
    sweep_id = client.post("/api/v1/sweeps", json=body).json()["id"]
    trials = session.scalars(select(Run).where(Run.sweep_id == sweep_id).order_by(Run.id)).all()
    for run, error in zip(trials, (0.041, 0.033, 0.089), strict=True):  # 270 dev examples each
        log_points(session, run, {"dev_examples": [270]}, first_step=0)
        log_points(session, run, {"dev_error": [error], "train_error": [error / 2]})
        client.post(f"/api/v1/runs/{run.id}/start", json={})
        client.post(f"/api/v1/runs/{run.id}/finish", json={"status": "succeeded"})

    response = client.get(f"/sweeps/{sweep_id}")

    assert texts(response.text, "best-margin") == ["(± 2.3 points, 95 %)"]
    [note] = texts(response.text, "best-tied")
    assert note.startswith(f"1 other trial is within noise of it on this dev set (#{trials[0].id})")
    assert client.get(f"/api/v1/sweeps/{sweep_id}").json()["tied_run_ids"] == [trials[0].id]


def test_a_sweep_starts_from_a_runs_config_of_any_model(client: TestClient, session: Session) -> None:
    from tests.factories import make_run

    project = make_project(session, dataset="digits")
    config = {
        "model": {"name": "lenet5", "activation": "tanh", "pool": "avg"},
        "hparams": {"epochs": 4, "lr": 0.02, "optimizer": "adam"},
    }
    run = make_run(session, project, name="cnn", config=config)

    # "Sweep around this run" on the run page opens the form started from it, with LeNet-5's options.
    run_page = client.get(f"/runs/{run.id}").text
    assert f'href="/projects/{project.id}/sweeps/new?from_run={run.id}"' in run_page
    page = client.get(f"/projects/{project.id}/sweeps/new?from_run={run.id}")
    assert page.status_code == 200
    chosen = [a for a in attrs_of(page.text, "option") if "selected" in a and a.get("value") == str(run.id)]
    assert len(chosen) == 1
    lenet = param_rows("lenet5")
    paths = [row[1] for row in table_rows(page.text, "space")]
    assert any(p.endswith("model.pool") for p in paths) and not any(p.endswith("model.hidden") for p in paths)
    lr = next(i for i, row in enumerate(lenet) if row.path == "hparams.lr")
    values = {a["id"]: a.get("value") for a in attrs_of(page.text, "input") if a.get("id")}
    assert (values[f"low_{lr}"], values[f"high_{lr}"]) == ("0.002", "0.2")  # a decade either side of 0.02

    form = {
        "csrf_token": csrf_token(client),
        "target": "zoo",
        "base_run": str(run.id),
        "trials": "2",
        "parallelism": "1",
        "early_stopping": "none",
        f"on_{lr}": "true",
        f"dist_{lr}": "log_uniform",
        f"low_{lr}": "0.002",
        f"high_{lr}": "0.2",
    }
    response = client.post(f"/projects/{project.id}/sweeps", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    sweep = session.scalars(select(Sweep).where(Sweep.project_id == project.id)).one()
    assert sweep.base_config["model"] == config["model"]
    assert sweep.base_config["hparams"]["optimizer"] == "adam"
    trial = session.scalars(select(Run).where(Run.sweep_id == sweep.id)).first()
    assert trial is not None and trial.config["model"]["name"] == "lenet5"


def test_a_sweep_cannot_start_from_another_projects_run(client: TestClient, session: Session) -> None:
    from tests.factories import make_run

    project, other = make_project(session), make_project(session)
    run = make_run(session, other)
    response = client.get(f"/projects/{project.id}/sweeps/new?from_run={run.id}")
    assert response.status_code == 422 and "is not a run of a built-in model in this project" in response.text


def test_sweep_page_counts_real_worker_slots_and_warns_when_parallelism_exceeds_them(
    client: TestClient, session: Session
) -> None:
    # "3 at once" with one worker slot ran one at a time, and the hint guessed from run counts.
    project = make_project(session)
    body = {"project_id": project.id, "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}}}
    sweep_id = client.post("/api/v1/sweeps", json={**body, "trials": 6, "parallelism": 3}).json()["id"]

    page = client.get(f"/sweeps/{sweep_id}").text
    assert texts(page, "worker-slots") == [
        "No worker is running: queued runs wait until one starts (trainboard worker, or trainboard up)."
    ]
    assert texts(page, "parallelism-warning")[0].startswith(
        "This sweep runs up to 3 trials at once, but the running workers have 0 slots in all: its trials "
        "wait until a worker starts."
    )

    worker = {"id": "box:1", "hostname": "box", "concurrency": 1, "active_runs": 1}
    client.post("/api/v1/workers/heartbeat", json=worker)
    page = client.get(f"/sweeps/{sweep_id}").text
    assert texts(page, "worker-slots") == [
        "0 of 1 worker slot free (1 worker running, 1 slot training): a new run waits for one to free up."
    ]
    assert texts(page, "parallelism-warning")[0].startswith(
        "This sweep runs up to 3 trials at once, but the running workers have 1 slot in all: at most 1 "
        "trains at a time, and the rest wait."
    )

    client.post(
        "/api/v1/workers/heartbeat", json={**worker, "id": "box:2", "concurrency": 2, "active_runs": 0}
    )
    page = client.get(f"/sweeps/{sweep_id}").text
    assert texts(page, "worker-slots") == ["2 of 3 worker slots free (2 workers running, 1 slot training)."]
    assert texts(page, "parallelism-warning") == []  # 3 at once fit 3 slots
