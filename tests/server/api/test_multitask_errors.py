"""Error analysis per task of a multi-task run: each task's predictions, errors, counts and confusion matrix,
through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_project, make_run

TASKS = "even, above_4, loop, prime"


def _post(client: TestClient, run_id: int, rows: list[dict[str, Any]], split: str = "dev") -> Any:
    return client.post(f"/api/v1/runs/{run_id}/predictions", json={"split": split, "predictions": rows})


def _multi_task_run(client: TestClient, session: Session) -> int:
    """Examples a, b, c: `even` gets only c wrong (a 0 called 1); `prime` gets a and b wrong (1s called 0)."""
    run = make_run(session, make_project(session, dataset="digits-tasks"))
    rows = [
        {"example_id": "a", "task": "even", "label": 1, "predicted": 1, "confidence": 0.9},
        {"example_id": "b", "task": "even", "label": 1, "predicted": 1, "confidence": 0.8},
        {"example_id": "c", "task": "even", "label": 0, "predicted": 1, "confidence": 0.7},
        {"example_id": "a", "task": "prime", "label": 1, "predicted": 0, "confidence": 0.6},
        {"example_id": "b", "task": "prime", "label": 1, "predicted": 0, "confidence": 0.95},
        # c has no `prime` label: no prediction (its -1 entry is not sent).
    ]
    assert _post(client, run.id, rows).json() == {"accepted": 5}
    return run.id


def test_two_tasks_get_their_own_error_tables(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(client, session)
    even = client.get(f"/api/v1/runs/{run_id}/errors?task=even").json()
    prime = client.get(f"/api/v1/runs/{run_id}/errors?task=prime").json()
    assert [(e["example_id"], e["task"], e["label"], e["predicted"]) for e in even["items"]] == [
        ("c", "even", 0, 1)
    ]
    assert [(e["example_id"], e["label"], e["predicted"]) for e in prime["items"]] == [
        ("b", 1, 0),
        ("a", 1, 0),
    ]
    assert (even["total"], prime["total"]) == (1, 2)


def test_two_tasks_get_their_own_confusion_matrices(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(client, session)
    even = client.get(f"/api/v1/runs/{run_id}/error-analysis?task=even").json()
    prime = client.get(f"/api/v1/runs/{run_id}/error-analysis?task=prime").json()
    assert (even["examples"], even["errors"]) == (3, 1)
    assert (prime["examples"], prime["errors"]) == (2, 2)
    assert even["confusion"] == {"labels": [0, 1], "matrix": [[0, 1], [0, 2]]}
    assert prime["confusion"] == {"labels": [0, 1], "matrix": [[0, 0], [2, 0]]}
    recall = {c["label"]: c["recall"] for c in prime["per_class"]}
    assert recall[1] == 0.0


def test_a_repeat_replaces_one_tasks_prediction_only(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(client, session)
    fixed = {"example_id": "a", "task": "prime", "label": 1, "predicted": 1, "confidence": 0.7}
    assert _post(client, run_id, [fixed]).json() == {"accepted": 1}
    assert client.get(f"/api/v1/runs/{run_id}/errors?task=prime").json()["total"] == 1
    assert client.get(f"/api/v1/runs/{run_id}/error-analysis?task=even").json()["examples"] == 3


def test_a_tagged_error_counts_in_its_tasks_categories(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(client, session)
    project_id = client.get(f"/api/v1/runs/{run_id}").json()["project_id"]
    tagged = client.put(f"/api/v1/projects/{project_id}/examples/b/tags", json={"tags": ["blurry"]})
    assert tagged.status_code in (200, 204)
    prime = client.get(f"/api/v1/runs/{run_id}/error-analysis?task=prime").json()
    even = client.get(f"/api/v1/runs/{run_id}/error-analysis?task=even").json()
    assert [(t["tag"], t["count"], t["max_error_reduction"]) for t in prime["by_tag"]] == [("blurry", 1, 0.5)]
    assert even["by_tag"] == []  # b is right on `even`
    assert client.get(f"/api/v1/runs/{run_id}/errors?task=prime&tag=blurry").json()["total"] == 1


@pytest.mark.parametrize(
    "path",
    ["errors", "error-analysis", "error-cohorts", "errors.csv", "error-analysis.csv"],
)
def test_a_multi_task_read_without_a_task_is_a_422_listing_them(
    client: TestClient, session: Session, path: str
) -> None:
    run_id = _multi_task_run(client, session)
    refused = client.get(f"/api/v1/runs/{run_id}/{path}")
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["query", "task"],
            "msg": f"Run {run_id} is a multi-task run: name one of its tasks ({TASKS})",
            "type": "value_error",
        }
    ]
    unknown = client.get(f"/api/v1/runs/{run_id}/{path}?task=odd")
    assert unknown.status_code == 422
    assert f"has the tasks {TASKS}, but got task='odd'" in unknown.json()["detail"][0]["msg"]


def test_a_single_task_run_refuses_a_task(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session))
    assert _post(client, run.id, [{"example_id": "x", "label": 1, "predicted": 2}]).json() == {"accepted": 1}
    assert client.get(f"/api/v1/runs/{run.id}/errors").json()["total"] == 1
    refused = client.get(f"/api/v1/runs/{run.id}/error-analysis?task=even")
    assert refused.status_code == 422
    assert refused.json()["detail"][0] == {
        "loc": ["query", "task"],
        "msg": f"Run {run.id} is a single-task run, but got task='even'",
        "type": "value_error",
    }


def test_ingest_refuses_a_task_the_dataset_does_not_have(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(client, session)
    rows = [
        {"example_id": "a", "task": "even", "label": 1, "predicted": 1},
        {"example_id": "a", "task": "odd", "label": 1, "predicted": 1},
    ]
    refused = _post(client, run_id, rows)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "predictions", 1, "task"]
    assert "but got task='odd'" in refused.json()["detail"][0]["msg"]
    missing = _post(client, run_id, [{"example_id": "a", "label": 1, "predicted": 1}])
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "predictions", 0, "task"]
    single = make_run(session, make_project(session))
    named = _post(client, single.id, [{"example_id": "a", "task": "even", "label": 1, "predicted": 1}])
    assert named.status_code == 422
    assert "is a single-task run" in named.json()["detail"][0]["msg"]


def test_compare_two_runs_on_one_task(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(client, session)
    project_id = client.get(f"/api/v1/runs/{run_id}").json()["project_id"]
    other = client.post(
        "/api/v1/runs", json={"project_id": project_id, "external": True, "name": "later"}
    ).json()["id"]
    rows = [
        {"example_id": "a", "task": "prime", "label": 1, "predicted": 1, "confidence": 0.9},
        {"example_id": "b", "task": "prime", "label": 1, "predicted": 0, "confidence": 0.9},
        {"example_id": "c", "task": "even", "label": 0, "predicted": 1, "confidence": 0.9},
    ]
    _post(client, other, rows)
    prime = client.get(f"/api/v1/runs/{run_id}/compare/{other}?task=prime").json()
    assert (prime["counts"], prime["compared"]) == ({"fixed": 1, "newly_broken": 0, "still_wrong": 1}, 2)
    assert [e["example_id"] for e in prime["items"]] == ["a"]
    even = client.get(f"/api/v1/runs/{run_id}/compare/{other}?task=even&group=still_wrong").json()
    assert (even["counts"]["still_wrong"], even["compared"]) == (1, 1)
    assert client.get(f"/api/v1/runs/{run_id}/compare/{other}").status_code == 422


def test_csv_exports_are_one_tasks(client: TestClient, session: Session) -> None:
    run_id = _multi_task_run(client, session)
    errors = client.get(f"/api/v1/runs/{run_id}/errors.csv?task=prime")
    assert errors.status_code == 200
    assert f"run-{run_id}-dev-prime-errors.csv" in errors.headers["content-disposition"]
    lines = errors.text.strip().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["b", "a"]
    # Each row names its task, so that several tasks' files can be read as one table.
    assert lines[0].split(",")[-1] == "task" and {line.split(",")[-1] for line in lines[1:]} == {"prime"}
    counts = client.get(f"/api/v1/runs/{run_id}/error-analysis.csv?task=even").text.strip().splitlines()
    assert counts[-1].startswith("(all errors),1,") and counts[-1].endswith(",even")
    assert counts[0].split(",")[-1] == "task"


def test_label_corrections_and_gradient_checks_refuse_a_multi_task_dataset(
    client: TestClient, session: Session
) -> None:
    project = make_project(session, dataset="digits-tasks")
    corrected = client.put(f"/api/v1/projects/{project.id}/label-corrections/d1", json={"corrected_label": 1})
    assert corrected.status_code == 422
    assert corrected.json()["detail"][0]["loc"] == ["body", "corrected_label"]
    assert f"has one label per task ({TASKS})" in corrected.json()["detail"][0]["msg"]
    checked = client.post("/api/v1/gradcheck", json={"dataset": "digits-tasks"})
    assert checked.status_code == 422
    assert checked.json()["detail"][0]["loc"] == ["body", "dataset"]
    assert "is a multi-task dataset" in checked.json()["detail"][0]["msg"]
