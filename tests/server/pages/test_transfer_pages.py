"""Transfer on the pages: the new-run form's "Start from run", the run page's weights and its links both
ways, and "Fine-tune this run on another dataset"."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.services.checkpoint_files import checkpoint_path
from server.tables import Project, Run
from tests.factories import make_project, make_run
from tests.server.pages.html import attrs_of, csrf_token, texts


def _source(session: Session) -> tuple[Run, Project]:
    config = {"model": {"name": "mlp", "hidden": [128, 32]}, "hparams": {"lr": 0.01}}
    source = make_run(session, make_project(session, dataset="digits-source"), name="big", config=config)
    checkpoint_path(source.id).parent.mkdir(parents=True, exist_ok=True)
    checkpoint_path(source.id).write_bytes(b"weights")
    return source, make_project(session, name="small-target", dataset="digits-target")


def _input(html: str, name: str) -> str | None:
    return next(a.get("value") for a in attrs_of(html, "input") if a.get("name") == name)


def test_fine_tune_from_the_run_page_through_the_form(client: TestClient, session: Session) -> None:
    source, target = _source(session)
    make_project(session, dataset="wine")  # another input shape: not offered

    page = client.get(f"/runs/{source.id}")
    offered = [a.get("value") for a in attrs_of(page.text, "option") if a.get("value", "").isdigit()]
    assert offered == [str(target.id)]
    chosen = client.get(f"/runs/{source.id}/fine-tune?project_id={target.id}", follow_redirects=False)
    assert chosen.headers["location"] == f"/projects/{target.id}/runs/new?transfer={source.id}"

    form = client.get(chosen.headers["location"])
    assert _input(form.text, "transfer_from") == str(source.id)
    assert _input(form.text, "m_mlp_hidden") == "128,32"  # the source's architecture
    created = client.post(
        f"/projects/{target.id}/runs",
        data={
            "csrf_token": csrf_token(client),
            "model": "mlp",
            "m_mlp_hidden": "128,32",
            "transfer_from": str(source.id),
            "transfer_trainable": "2",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    run = session.scalars(select(Run).where(Run.project_id == target.id)).one()
    assert run.config["transfer"] == {"from_run_id": source.id, "trainable": 2}

    child_page = client.get(f"/runs/{run.id}")
    assert texts(child_page.text, "weights-source") == [
        f"Started from the final weights of big (run #{source.id} in {source.project.name}, trained on "
        "digits-source); it trained the last 2 weight layers, and kept the rest frozen (their batch-norm "
        "statistics too)."
    ]
    assert f'href="/runs/{source.id}"' in child_page.text
    source_page = client.get(f"/runs/{source.id}")
    assert texts(source_page.text, "weights-fine-tuned") == [
        f"{run.name} (run #{run.id} in small-target, digits-target)"
    ]
    assert f'href="/runs/{run.id}"' in source_page.text


def test_a_source_without_a_checkpoint_is_refused_on_the_form(client: TestClient, session: Session) -> None:
    source, target = _source(session)
    checkpoint_path(source.id).unlink()
    assert "fine-tune-form" not in client.get(f"/runs/{source.id}").text

    refused = client.post(
        f"/projects/{target.id}/runs",
        data={"csrf_token": csrf_token(client), "model": "mlp", "transfer_from": str(source.id)},
    )
    assert refused.status_code == 422
    assert texts(refused.text, "field-error") == [
        f"Start from run (transfer.from_run_id): Run {source.id} has no checkpoint to start from (succeeded)"
    ]
    assert _input(refused.text, "transfer_from") == str(source.id)
