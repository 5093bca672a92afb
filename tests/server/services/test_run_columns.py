"""One column list for the run row: RunRead's fields, every run query and the JSON fast path agree."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.schemas import RunRead
from server.services import runs
from server.services.runs.columns import ROW_COLUMNS, RUN_JSON_ROWS, RUN_READ_FIELDS, RUN_ROWS
from server.tables import Run


def test_run_read_has_exactly_the_fields_of_the_column_list_in_its_order() -> None:
    assert tuple(RunRead.model_fields) == RUN_READ_FIELDS


def test_every_run_query_selects_the_list_in_order() -> None:
    assert list(ROW_COLUMNS) == [name for name in RUN_READ_FIELDS if name != "summary"]
    assert len(RUN_ROWS.selected_columns) == len(RUN_JSON_ROWS.selected_columns) == len(ROW_COLUMNS)
    assert [column.key for column in RUN_ROWS.selected_columns] == list(ROW_COLUMNS)


def _post(client: TestClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = client.post(f"/api/v1{path}", json=body)
    assert response.status_code == status, response.text
    return response.json()


def _real_runs(client: TestClient) -> tuple[int, list[int]]:
    """Runs made the way users and workers make them, through the API: queued for a worker, claimed with
    an environment, reporting, failed with a log tail; external with group, tags, notes and environment;
    a child, renamed and re-tagged; a cancelled one."""
    project = _post(client, "/projects", {"name": "columns", "dataset": "digits"}, 201)["id"]
    queued = _post(client, "/runs", {"project_id": project, "config": {"hparams": {"epochs": 2}}}, 201)
    trained = _post(
        client, "/runs", {"project_id": project, "params": {"lr": 0.01, "nested": {"a": [1]}}}, 201
    )
    environment = {"device": "cpu", "precision": "fp32", "torch": "2.13.0", "host": "box ☃"}
    _post(client, f"/runs/{trained['id']}/start", {"worker": "w:1", "environment": environment})
    _post(client, f"/runs/{trained['id']}/progress", {"epoch": 1, "epochs": 2, "examples_per_sec": 12.5})
    points = [
        {"key": "dev_error", "step": 1, "value": 0.25},
        {"key": "train_loss", "step": 1, "value": 1 / 3},
    ]
    _post(client, f"/runs/{trained['id']}/metrics", {"metrics": points})
    _post(
        client,
        f"/runs/{trained['id']}/finish",
        {"status": "failed", "error": "boom\n  twice", "log_tail": "Trace\n"},
    )
    external = _post(
        client,
        "/runs",
        {
            "project_id": project,
            "external": True,
            "name": 'script "☃"',
            "group": "seeds-1",
            "tags": ["baseline", "ünï"],
            "notes": "first try\nwith \\ backslash",
            "environment": {"git_commit": "abc", "argv": ["train.py", "--lr=1e-3"], "git_dirty": False},
        },
        201,
    )
    _post(
        client,
        f"/runs/{external['id']}/metrics",
        {"metrics": [{"key": "dev_error", "step": 3, "value": 0.125}]},
    )
    child = _post(
        client, "/runs", {"project_id": project, "external": True, "parent_id": external["id"]}, 201
    )
    patched = client.patch(
        f"/api/v1/runs/{child['id']}", json={"name": "renamed", "tags": ["x"], "notes": "n"}
    )
    assert patched.status_code == 200
    _post(client, f"/runs/{queued['id']}/cancel", {})
    return project, [queued["id"], trained["id"], external["id"], child["id"]]


def test_the_json_fast_path_writes_each_real_run_as_its_run_read(
    client: TestClient, session: Session
) -> None:
    project, made = _real_runs(client)
    listed = client.get("/api/v1/runs", params={"project_id": project, "sort": "id"})
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [item["id"] for item in items] == made
    session.expire_all()
    for item in items:
        reference = runs.to_read(session.get(Run, item["id"])).model_dump(mode="json")
        assert item == reference
        assert list(item) == list(reference)  # the same fields in the same order
        assert client.get(f"/api/v1/runs/{item['id']}").json() == item
    # What the real runs carried made it through (not just equal, also filled in).
    by_id = {item["id"]: item for item in items}
    assert by_id[made[1]]["environment"]["host"] == "box ☃" and by_id[made[1]]["log_tail"] == "Trace\n"
    assert by_id[made[1]]["summary"] == {"dev_error": 0.25, "train_loss": 1 / 3}
    assert by_id[made[2]]["tags"] == ["baseline", "ünï"] and by_id[made[2]]["group"] == "seeds-1"
    assert by_id[made[3]]["name"] == "renamed" and by_id[made[0]]["status"] == "cancelled"
    # read_runs (the validated list) reads the same rows.
    validated = [run.model_dump(mode="json") for run in runs.read_runs(session=session, run_ids=made)]
    assert validated == items
    assert json.loads(listed.content)["total"] == len(made)
