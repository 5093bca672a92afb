"""The MLflow API under auth: the same tokens and per-project roles as /api/v1, in MLflow's error codes."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from tests.factories import make_project, make_run
from tests.server.accounts import add_member, auth_turned_on, client_as, make_user, token_for

API = "/api/2.0/mlflow"


@pytest.fixture(autouse=True)
def auth_on(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with auth_turned_on(monkeypatch):
        yield


def test_a_viewer_reads_but_cannot_log_and_an_outsider_sees_nothing(app: FastAPI, session: Session) -> None:
    owner, viewer, outsider = (make_user(session, name) for name in ("olga", "vera", "mallory"))
    project = make_project(session, name="shared", dataset="external")
    add_member(session, project, owner, "owner")
    add_member(session, project, viewer, "viewer")
    run = make_run(session, project, status="running", external=True)
    with client_as(app, token_for(session, viewer)) as as_viewer:
        assert as_viewer.get(f"{API}/runs/get", params={"run_id": run.id}).status_code == 200
        found = as_viewer.get(f"{API}/experiments/get-by-name", params={"experiment_name": "shared"})
        assert found.json()["experiment"]["experiment_id"] == str(project.id)
        refused = as_viewer.post(
            f"{API}/runs/log-metric", json={"run_id": str(run.id), "key": "loss", "value": 1.0}
        )
        assert (refused.status_code, refused.json()["error_code"]) == (403, "PERMISSION_DENIED")
        renamed = as_viewer.post(
            f"{API}/experiments/update", json={"experiment_id": str(project.id), "new_name": "x"}
        )
        assert renamed.json()["error_code"] == "PERMISSION_DENIED"
    with client_as(app, token_for(session, outsider)) as as_outsider:
        hidden = as_outsider.get(f"{API}/runs/get", params={"run_id": run.id})
        assert (hidden.status_code, hidden.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
        assert (
            as_outsider.get(
                f"{API}/experiments/get-by-name", params={"experiment_name": "shared"}
            ).status_code
            == 404
        )
        assert as_outsider.post(f"{API}/experiments/search", json={}).json()["experiments"] == []
        mine = as_outsider.post(f"{API}/experiments/create", json={"name": "shared"})  # names are per owner
        assert mine.status_code == 200 and mine.json()["experiment_id"] != str(project.id)
    with client_as(app, None) as anonymous:
        missing = anonymous.get(f"{API}/runs/get", params={"run_id": run.id})
        assert (missing.status_code, missing.json()["error_code"]) == (401, "UNAUTHENTICATED")
        posted = anonymous.post(
            f"{API}/runs/log-metric", json={"run_id": str(run.id), "key": "loss", "value": 1.0}
        )
        assert (posted.status_code, posted.json()["error_code"]) == (401, "UNAUTHENTICATED")
    with client_as(app, token_for(session, None, kind="worker")) as as_worker:
        worker = as_worker.get(f"{API}/runs/get", params={"run_id": run.id})
        assert (worker.status_code, worker.json()["error_code"]) == (403, "PERMISSION_DENIED")
