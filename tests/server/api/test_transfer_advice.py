"""Data mismatch on a small training set: "fine-tune from a model trained on the larger set" becomes a
Try next when the workspace has such a run, and the Try next queues the fine-tuned copy."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.services.checkpoint_files import checkpoint_path
from server.tables import Project, Run
from tests.factories import log_points, make_project, make_run
from tests.server.accounts import add_member, auth_turned_on, client_as, make_user, token_for


def _mismatched(session: Session, project: Project | None = None) -> Run:
    """A run on the small target set whose dev error is far above its train-dev error."""
    run = make_run(session, project or make_project(session, dataset="digits-target"))
    log_points(session, run, {"train_error": [0.0], "train_dev_error": [0.02], "dev_error": [0.3]})
    sizes = {
        "train_examples": [72],
        "train_dev_examples": [60],
        "dev_examples": [233],
        "test_examples": [232],
    }
    log_points(session, run, sizes, first_step=0)
    return run


def _source(session: Session, project: Project | None = None, *, checkpoint: bool = True) -> Run:
    source = make_run(session, project or make_project(session, dataset="digits-source"), name="big")
    checkpoint_path(source.id).unlink(missing_ok=True)  # ids repeat across the rolled-back databases
    if checkpoint:
        checkpoint_path(source.id).parent.mkdir(parents=True, exist_ok=True)
        checkpoint_path(source.id).write_bytes(b"weights")
    return source


def _fine_tune_actions(body: dict) -> list[dict]:
    return [a for a in body["actions"] if a["path"] == "transfer.from_run_id"]


def test_a_larger_source_with_weights_is_offered_first_for_data_mismatch(
    client: TestClient, session: Session
) -> None:
    run = _mismatched(session)
    source = _source(session)
    body = client.get(f"/api/v1/runs/{run.id}/diagnosis").json()
    assert body["primary"] == "data_mismatch"
    mismatch = [a for a in body["actions"] if a["gap"] == "data_mismatch"]
    assert mismatch[0]["path"] == "transfer.from_run_id" and mismatch[0]["value"] == source.id
    assert mismatch[0]["text"].startswith(
        f"Fine-tune from a model trained on the larger set: run #{source.id} (big) learned on 720 "
        "digits-source examples against this run's 72"
    )

    child = client.post(f"/api/v1/runs/{run.id}/clone", json={"changes": {"transfer.from_run_id": source.id}})
    assert child.status_code == 201, child.text
    assert child.json()["config"]["transfer"] == {"from_run_id": source.id, "trainable": "head"}
    assert child.json()["config"]["model"] == source.config["model"] | child.json()["config"]["model"]


def test_no_offer_without_a_usable_larger_source(client: TestClient, session: Session) -> None:
    run = _mismatched(session)
    _source(session, checkpoint=False)  # no weights to start from
    _source(session, make_project(session, dataset="digits-target"))  # not larger
    _source(session, make_project(session, dataset="wine"))  # other inputs
    assert _fine_tune_actions(client.get(f"/api/v1/runs/{run.id}/diagnosis").json()) == []


def test_a_source_in_a_project_the_caller_cannot_see_is_not_offered_nor_accepted(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with auth_turned_on(monkeypatch):
        alice, bob = make_user(session, "alice"), make_user(session, "bob")
        theirs = make_project(session, dataset="digits-source")
        add_member(session, theirs, alice, "owner")
        source = _source(session, theirs)
        mine = make_project(session, dataset="digits-target")
        add_member(session, mine, bob, "owner")
        run = _mismatched(session, mine)
        with client_as(app, token_for(session, bob)) as client:
            offered = _fine_tune_actions(client.get(f"/api/v1/runs/{run.id}/diagnosis").json())
            forced = client.post(
                f"/api/v1/runs/{run.id}/clone", json={"changes": {"transfer.from_run_id": source.id}}
            )
    assert offered == []
    assert forced.status_code == 422
    assert forced.json()["detail"][0]["loc"] == ["body", "changes", "transfer.from_run_id"]
