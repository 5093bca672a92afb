"""A multi-task run's ladder per task: its `{task}/...` errors and sizes, through the API and the page."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import log_points, make_project, make_run
from tests.server.pages.html import texts


def _multi_task_run(session: Session) -> int:
    run = make_run(session, make_project(session, dataset="digits-tasks"))
    log_points(
        session,
        run,
        {
            "train_error": [0.05],
            "dev_error": [0.08],
            "even/train_error": [0.01],
            "even/train_dev_error": [0.02],
            "even/dev_error": [0.03],
            "prime/train_error": [0.10],
            "prime/train_dev_error": [0.30],
            "prime/dev_error": [0.31],
        },
    )
    log_points(session, run, {"prime/train_examples": [700], "prime/train_dev_examples": [120]}, first_step=0)
    return run.id


def test_each_task_gets_its_own_ladder(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(session)
    overall = client.get(f"/api/v1/runs/{run_id}/diagnosis").json()
    even = client.get(f"/api/v1/runs/{run_id}/diagnosis?task=even").json()
    prime = client.get(f"/api/v1/runs/{run_id}/diagnosis?task=prime").json()
    assert (overall["train_error"], overall["dev_error"]) == (0.05, 0.08)
    assert (even["train_error"], even["train_dev_error"], even["dev_error"]) == (0.01, 0.02, 0.03)
    assert prime["variance"] == 0.2 and prime["primary"] == "variance"


def test_an_unknown_task_is_a_422_naming_the_tasks(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(session)
    refused = client.get(f"/api/v1/runs/{run_id}/diagnosis?task=odd")
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["query", "task"],
            "msg": f"Run {run_id}'s dataset has the tasks even, above_4, loop, prime, but got task='odd'",
            "type": "value_error",
        }
    ]
    single = make_run(session, make_project(session))
    assert "is not a multi-task dataset" in client.get(f"/api/v1/runs/{single.id}/diagnosis?task=even").text


def test_the_run_page_picks_a_task(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(session)
    page = client.get(f"/runs/{run_id}?task=prime")
    assert page.status_code == 200
    assert texts(page.text, "task-picker") == ["Task: all tasks · even · above_4 · loop · prime"]
    assert texts(page.text, "current") == ["prime"]
    assert "Variance dominates" in texts(page.text, "diagnosis-summary")[0]
    assert client.get(f"/runs/{run_id}?task=odd").status_code == 422
