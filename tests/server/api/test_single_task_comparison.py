"""Would separate networks do better? A multi-task run against one single-task run per task."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.task_comparison import TaskRow, read_task_comparison
from tests.factories import make_project
from tests.server.pages.html import csrf_token, texts


def _multi_task_run(client: TestClient) -> dict:
    project = client.post("/api/v1/projects", json={"name": "tasks", "dataset": "digits-tasks"}).json()
    config = {"model": {"name": "mlp", "hidden": [32]}}
    return client.post(
        "/api/v1/runs", json={"project_id": project["id"], "name": "shared", "config": config}
    ).json()


def test_one_single_task_run_per_task_and_the_comparison(client: TestClient, session: Session) -> None:
    run = _multi_task_run(client)
    children = client.post(f"/api/v1/runs/{run['id']}/single-task-runs").json()
    assert [c["config"]["task"] for c in children] == ["even", "above_4", "loop", "prime"]
    assert [c["name"] for c in children][0] == "shared, even only"
    assert all(c["config"]["model"] == run["config"]["model"] for c in children)
    assert client.post(f"/api/v1/runs/{run['id']}/single-task-runs").status_code == 409

    shared = {
        "even/dev_error": 0.02,
        "above_4/dev_error": 0.03,
        "loop/dev_error": 0.05,
        "prime/dev_error": 0.04,
    }
    alone = [0.05, 0.06, 0.05, 0.02]
    for key, value in shared.items():
        client.post(
            f"/api/v1/runs/{run['id']}/metrics", json={"metrics": [{"key": key, "step": 1, "value": value}]}
        )
    for child, value in zip(children, alone, strict=True):
        key = f"{child['config']['task']}/dev_error"
        client.post(
            f"/api/v1/runs/{child['id']}/metrics", json={"metrics": [{"key": key, "step": 1, "value": value}]}
        )

    body = client.get(f"/api/v1/runs/{run['id']}/single-task-comparison").json()
    assert [(r["task"], r["multi_task"], r["single_task"]) for r in body["rows"]] == [
        ("even", 0.02, 0.05),
        ("above_4", 0.03, 0.06),
        ("loop", 0.05, 0.05),
        ("prime", 0.04, 0.02),
    ]
    assert body["reading"].startswith(
        "The multi-task network does better on even, above_4, separate networks on prime"
    )
    page = client.get(f"/runs/{run['id']}")
    assert texts(page.text, "task-comparison-reading")[0].startswith("The multi-task network does better")
    single_page = client.get(f"/runs/{children[0]['id']}")
    assert 'id="tasks"' not in single_page.text  # a single-task run offers no comparison of its own


def test_the_page_queues_them(client: TestClient) -> None:
    run = _multi_task_run(client)
    assert "Compare with 4 single-task runs" in client.get(f"/runs/{run['id']}").text
    queued = client.post(
        f"/runs/{run['id']}/single-task-runs", data={"csrf_token": csrf_token(client)}, follow_redirects=False
    )
    assert queued.status_code == 303
    assert len(client.get(f"/api/v1/runs/{run['id']}/single-task-comparison").json()["rows"]) == 4


def test_a_task_the_dataset_does_not_have_is_a_422(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="digits-tasks")
    refused = client.post("/api/v1/runs", json={"project_id": project.id, "config": {"task": "odd"}})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "config", "task"]
    single = client.post("/api/v1/projects", json={"name": "plain", "dataset": "digits"}).json()
    run = client.post("/api/v1/runs", json={"project_id": single["id"]}).json()
    assert client.post(f"/api/v1/runs/{run['id']}/single-task-runs").status_code == 422


@pytest.mark.parametrize(
    ("rows", "reading"),
    [
        ([("a", 0.1, 0.2), ("b", 0.1, 0.1)], "The multi-task network does better on a and no worse anywhere"),
        ([("a", 0.1, 0.1)], "The multi-task network does as well and no worse anywhere"),
        ([("a", 0.2, 0.1)], "Separate networks do better on a and the multi-task network wins nowhere"),
        ([("a", 0.2, None)], "Not enough finished runs to compare yet"),
    ],
)
def test_read_task_comparison(rows: list, reading: str) -> None:
    table = [TaskRow(task, multi, single, None) for task, multi, single in rows]
    assert read_task_comparison(table).startswith(reading)
