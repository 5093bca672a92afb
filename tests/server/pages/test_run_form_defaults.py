"""Fields whose default depends on another (init on the activation, decay_rate on the schedule): the form
says what a blank becomes, a blank is stored as blank, and the run page shows what it became."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.tables import Run
from tests.factories import make_project, make_run
from tests.server.pages.html import attrs_of, csrf_token, table_rows


def _attrs(html: str, tag: str, name: str) -> dict[str, str | None]:
    return next(a for a in attrs_of(html, tag) if a.get("name") == name)


def _blank_option(html: str, select_name: str) -> str:
    start = html.index(f'name="{select_name}"')
    option = html.index('<option value=""', start)
    return html[html.index(">", option) + 1 : html.index("</option>", option)]


def test_new_run_form_says_what_a_blank_init_and_decay_rate_become(
    client: TestClient, session: Session
) -> None:
    project = make_project(session, dataset="wine")

    html = client.get(f"/projects/{project.id}/runs/new").text

    # Left blank (selected), init follows the activation: relu by default, so He.
    assert _blank_option(html, "m_mlp_init") == "default: he"
    init = _attrs(html, "select", "m_mlp_init")
    assert init["data-blank-follows"] == "m_mlp_activation"
    assert json.loads(init["data-blank-texts"] or "")["tanh"] == "default: xavier"
    # No decay by default, so the rate is unused; each schedule's own rate is listed for new_run.js.
    decay = _attrs(html, "input", "hp_decay_rate")
    assert (decay["value"], decay["placeholder"], decay["data-blank-follows"]) == (
        "",
        "not used",
        "hp_lr_decay",
    )
    assert json.loads(decay["data-blank-texts"] or "") == {
        "none": "not used",
        "step": "default: 0.5",
        "exponential": "default: 0.95",
        "inverse": "default: 1",
        "cosine": "not used",
    }


def test_form_from_a_parent_shows_its_schedules_rate(client: TestClient, session: Session) -> None:
    project = make_project(session)
    config = {
        "model": {"name": "mlp", "activation": "tanh", "init": None},
        "hparams": {"lr_decay": "inverse"},
    }
    parent = make_run(session, project, config=config)

    html = client.get(f"/projects/{project.id}/runs/new?parent={parent.id}").text

    assert _attrs(html, "input", "hp_decay_rate")["placeholder"] == "default: 1"
    assert _blank_option(html, "m_mlp_init") == "default: xavier"


def test_blank_init_and_decay_rate_are_stored_blank_and_shown_resolved(
    client: TestClient, session: Session
) -> None:
    project = make_project(session)
    form = {
        "csrf_token": csrf_token(client),
        "model": "mlp",
        "m_mlp_activation": "tanh",
        "m_mlp_init": "",
        "hp_lr_decay": "exponential",
        "hp_decay_rate": "",
    }

    response = client.post(f"/projects/{project.id}/runs", data=form, follow_redirects=False)

    assert response.status_code == 303
    run = session.scalars(select(Run).where(Run.project_id == project.id)).one()
    assert run.config["model"]["init"] is None and run.config["hparams"]["decay_rate"] is None
    rows = table_rows(client.get(f"/runs/{run.id}").text, "config")
    assert ["model.init", "xavier (default for tanh)"] in rows
    assert ["hparams.decay_rate", "0.95 (default for exponential)"] in rows


def test_an_explicit_init_and_decay_rate_are_kept(client: TestClient, session: Session) -> None:
    project = make_project(session)
    form = {
        "csrf_token": csrf_token(client),
        "model": "mlp",
        "m_mlp_activation": "tanh",
        "m_mlp_init": "he",
        "hp_lr_decay": "inverse",
        "hp_decay_rate": "0.5",
    }

    client.post(f"/projects/{project.id}/runs", data=form, follow_redirects=False)

    run = session.scalars(select(Run).where(Run.project_id == project.id)).one()
    assert (run.config["model"]["init"], run.config["hparams"]["decay_rate"]) == ("he", 0.5)
    rows = table_rows(client.get(f"/runs/{run.id}").text, "config")
    assert ["model.init", "he"] in rows and ["hparams.decay_rate", "0.5"] in rows
