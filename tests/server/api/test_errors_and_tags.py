import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_project, make_run


@pytest.fixture
def project_and_run(session: Session) -> tuple[int, int]:
    project = make_project(session)
    return project.id, make_run(session, project).id


def _post_predictions(client: TestClient, run_id: int, rows: list[tuple], split: str = "dev") -> None:
    predictions = [{"example_id": e, "label": y, "predicted": p, "confidence": c} for e, y, p, c in rows]
    response = client.post(
        f"/api/v1/runs/{run_id}/predictions", json={"split": split, "predictions": predictions}
    )
    assert response.status_code == 200, response.text


ROWS = [
    ("ex-1", 1, 1, 0.9),
    ("ex-2", 1, 7, 0.95),
    ("ex-3", 3, 8, 0.6),
    ("ex-4", 9, 4, 0.4),
    ("ex-5", 2, 2, 0.8),
]


def test_errors_lists_only_mistakes_most_confident_first(client: TestClient, project_and_run: tuple) -> None:
    _, run_id = project_and_run
    _post_predictions(client, run_id, ROWS)
    page = client.get(f"/api/v1/runs/{run_id}/errors").json()
    assert page["total"] == 3
    assert [(i["example_id"], i["label"], i["predicted"]) for i in page["items"]] == [
        ("ex-2", 1, 7),
        ("ex-3", 3, 8),
        ("ex-4", 9, 4),
    ]
    assert client.get(f"/api/v1/runs/{run_id}/errors", params={"split": "test"}).json()["total"] == 0


def test_predictions_are_idempotent_per_example(client: TestClient, project_and_run: tuple) -> None:
    _, run_id = project_and_run
    _post_predictions(client, run_id, ROWS)
    _post_predictions(client, run_id, [("ex-2", 1, 1, 0.7)])  # fixed on a re-post
    page = client.get(f"/api/v1/runs/{run_id}/errors").json()
    assert page["total"] == 2


def test_filters_by_label_predicted_and_confidence(client: TestClient, project_and_run: tuple) -> None:
    _, run_id = project_and_run
    _post_predictions(client, run_id, ROWS)
    url = f"/api/v1/runs/{run_id}/errors"
    assert [i["example_id"] for i in client.get(url, params={"label": 3}).json()["items"]] == ["ex-3"]
    assert [i["example_id"] for i in client.get(url, params={"predicted": 4}).json()["items"]] == ["ex-4"]
    confident = client.get(url, params={"min_confidence": 0.5, "sort": "confidence"}).json()["items"]
    assert [i["example_id"] for i in confident] == ["ex-3", "ex-2"]


def test_tags_belong_to_examples_and_survive_a_new_run(
    client: TestClient, session: Session, project_and_run: tuple
) -> None:
    project_id, run_id = project_and_run
    _post_predictions(client, run_id, ROWS)
    assert client.post(f"/api/v1/projects/{project_id}/tags", json={"name": "blurry"}).status_code == 201
    assert client.post(f"/api/v1/projects/{project_id}/tags", json={"name": "blurry"}).status_code == 409
    reply = client.put(f"/api/v1/projects/{project_id}/examples/ex-2/tags", json={"tags": ["blurry", "thin"]})
    assert reply.json() == {"example_id": "ex-2", "tags": ["blurry", "thin"]}
    tagged = client.get(f"/api/v1/runs/{run_id}/errors", params={"tag": "blurry"}).json()
    assert [(i["example_id"], i["tags"]) for i in tagged["items"]] == [("ex-2", ["blurry", "thin"])]
    untagged = client.get(f"/api/v1/runs/{run_id}/errors", params={"untagged": True}).json()
    assert {i["example_id"] for i in untagged["items"]} == {"ex-3", "ex-4"}

    project = session.get(__import__("server.tables", fromlist=["Project"]).Project, project_id)
    later_run = make_run(session, project)
    _post_predictions(client, later_run.id, [("ex-2", 1, 4, 0.5)])
    later = client.get(f"/api/v1/runs/{later_run.id}/errors").json()["items"]
    assert later[0]["tags"] == ["blurry", "thin"]


def test_bulk_tagging_adds_and_removes(client: TestClient, project_and_run: tuple) -> None:
    project_id, run_id = project_and_run
    _post_predictions(client, run_id, ROWS)
    url = f"/api/v1/projects/{project_id}/examples/tags"
    result = client.post(url, json={"example_ids": ["ex-2", "ex-3", "ex-4"], "add": ["mislabeled", "dark"]})
    assert result.status_code == 200
    assert result.json()["examples"] == 3
    client.post(url, json={"example_ids": ["ex-3"], "remove": ["dark"]})
    items = {i["example_id"]: i["tags"] for i in client.get(f"/api/v1/runs/{run_id}/errors").json()["items"]}
    assert items == {"ex-2": ["dark", "mislabeled"], "ex-3": ["mislabeled"], "ex-4": ["dark", "mislabeled"]}
    names = [t["name"] for t in client.get(f"/api/v1/projects/{project_id}/tags").json()]
    assert names == ["dark", "mislabeled"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"split": "validation", "predictions": []}, ["body", "split"]),
        ({"predictions": [{"example_id": "a", "label": 1}]}, ["body", "predictions", 0, "predicted"]),
        (
            {"predictions": [{"example_id": "a", "label": 1, "predicted": 2, "confidence": 2}]},
            ["body", "predictions", 0, "confidence"],
        ),
    ],
)
def test_bad_predictions_are_422(client: TestClient, project_and_run: tuple, body: dict, loc: list) -> None:
    _, run_id = project_and_run
    response = client.post(f"/api/v1/runs/{run_id}/predictions", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_bad_tag_requests(client: TestClient, project_and_run: tuple) -> None:
    project_id, _ = project_and_run
    assert client.post(f"/api/v1/projects/{project_id}/tags", json={"name": ""}).status_code == 422
    assert client.post("/api/v1/projects/999999/tags", json={"name": "x"}).status_code == 404
    response = client.post(f"/api/v1/projects/{project_id}/examples/tags", json={"example_ids": []})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "example_ids"]
