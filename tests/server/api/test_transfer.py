"""Transfer at submit time: the source run must be visible, finished, checkpointed and of the same input."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.services.checkpoint_files import checkpoint_path
from server.services.transfer import fine_tuned_from
from server.tables import Project, Run
from tests.factories import make_project, make_run
from tests.server.accounts import add_member, auth_turned_on, client_as, make_user, token_for

FIELD = ["body", "config", "transfer", "from_run_id"]


def _checkpointed(session: Session, project: Project, **overrides: object) -> Run:
    config = {"model": {"name": "mlp", "hidden": [32], "activation": "tanh"}, "hparams": {}}
    run = make_run(session, project, config=config, **overrides)
    path = checkpoint_path(run.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    return run


def _submit(client: TestClient, project_id: int, source_id: int, **transfer: object) -> dict:
    body = {"project_id": project_id, "config": {"transfer": {"from_run_id": source_id, **transfer}}}
    response = client.post("/api/v1/runs", json=body)
    return {**response.json(), "code": response.status_code}


def test_a_transferred_run_keeps_the_source_architecture(client: TestClient, session: Session) -> None:
    source = _checkpointed(session, make_project(session, dataset="digits-source"))
    target = make_project(session, dataset="digits-target")
    created = _submit(client, target.id, source.id, trainable=2)
    assert created["code"] == 201
    assert created["config"]["transfer"] == {"from_run_id": source.id, "trainable": 2}
    assert created["config"]["model"]["hidden"] == [32] and created["config"]["model"]["activation"] == "tanh"
    assert _submit(client, target.id, source.id)["config"]["transfer"]["trainable"] == "head"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"dataset": "wine"},
            "but this project's are [13]: transfer needs the same input",
        ),
        ({"checkpoint": False}, "has no checkpoint to start from (succeeded)"),
        ({"status": "running"}, "is still running: wait until it has finished"),
        ({"missing": True}, "not found"),
    ],
)
def test_a_source_that_cannot_be_used_is_a_422_naming_the_reason(
    client: TestClient, session: Session, change: dict, reason: str
) -> None:
    source = _checkpointed(
        session, make_project(session, dataset="digits-source"), status=change.get("status", "succeeded")
    )
    if change.get("checkpoint") is False:
        checkpoint_path(source.id).unlink()
    target = make_project(session, dataset=change.get("dataset", "digits-target"))
    source_id = source.id + 1000 if change.get("missing") else source.id
    refused = _submit(client, target.id, source_id)
    assert refused["code"] == 422
    assert refused["detail"][0]["loc"] == FIELD
    assert refused["detail"][0]["msg"].startswith(f"Run {source_id} ")
    assert refused["detail"][0]["msg"].endswith(reason)


def test_another_architecture_is_a_422_on_the_model_name(client: TestClient, session: Session) -> None:
    source = _checkpointed(session, make_project(session, dataset="digits-source"))
    target = make_project(session, dataset="digits-target")
    body = {
        "project_id": target.id,
        "config": {"model": {"name": "lenet5"}, "transfer": {"from_run_id": source.id}},
    }
    refused = client.post("/api/v1/runs", json=body)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "config", "model", "name"]


@pytest.mark.parametrize("trainable", ["some", 0, -1])
def test_a_bad_trainable_is_a_422(client: TestClient, session: Session, trainable: object) -> None:
    source = _checkpointed(session, make_project(session, dataset="digits-source"))
    refused = _submit(
        client, make_project(session, dataset="digits-target").id, source.id, trainable=trainable
    )
    assert refused["code"] == 422
    assert refused["detail"][0]["loc"][:4] == ["body", "config", "transfer", "trainable"]


def test_a_run_the_caller_cannot_see_reads_as_missing(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with auth_turned_on(monkeypatch):
        alice, bob = make_user(session, "alice"), make_user(session, "bob")
        hidden = make_project(session, dataset="digits-source")
        add_member(session, hidden, alice, "owner")
        source = _checkpointed(session, hidden)
        mine = make_project(session, dataset="digits-target")
        add_member(session, mine, bob, "owner")
        with client_as(app, token_for(session, bob)) as client:
            refused = _submit(client, mine.id, source.id)
            swept = client.post(
                "/api/v1/sweeps",
                json={
                    "project_id": mine.id,
                    "base_config": {"transfer": {"from_run_id": source.id}},
                    "space": {"hparams.lr": {"log_uniform": [0.001, 0.1]}},
                    "trials": 1,
                },
            )
        with client_as(app, token_for(session, alice)) as client:
            add_member(session, mine, alice, "editor")
            allowed = _submit(client, mine.id, source.id)
    assert refused["code"] == 422
    assert refused["detail"] == [{"loc": FIELD, "msg": f"Run {source.id} not found", "type": "value_error"}]
    assert swept.status_code == 422
    assert swept.json()["detail"][0]["loc"] == ["body", "base_config", "transfer", "from_run_id"]
    assert allowed["code"] == 201


def test_the_source_lists_the_runs_fine_tuned_from_it(client: TestClient, session: Session) -> None:
    source = _checkpointed(session, make_project(session, dataset="digits-source"))
    target = make_project(session, dataset="digits-target")
    first = _submit(client, target.id, source.id)["id"]
    second = _submit(client, target.id, source.id, trainable="all")["id"]
    assert [run.id for run in fine_tuned_from(session=session, run_id=source.id)] == [first, second]
    assert fine_tuned_from(session=session, run_id=first) == []
