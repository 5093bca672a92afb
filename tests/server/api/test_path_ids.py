"""Ids that hold a '/' reach their routes: a zip dataset's example ids are its files' paths
("cats/001.png") and metric keys may be "train/loss". Before, every such URL was the router's 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import log_points, log_predictions, make_project, make_run

ZIP_ID = "cats/001.png"


@pytest.mark.parametrize("spelled", [ZIP_ID, "cats%2F001.png"])
def test_a_zip_examples_tags_and_label_correction_reach_it(
    client: TestClient, session: Session, spelled: str
) -> None:
    project = make_project(session, dataset="external")
    log_predictions(session, make_run(session, project), [(ZIP_ID, "cat", "dog", 0.9)])
    examples = f"/api/v1/projects/{project.id}/examples/{spelled}"
    client.post(f"/api/v1/projects/{project.id}/tags", json={"name": "blurry"})
    response = client.put(f"{examples}/tags", json={"tags": ["blurry"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"example_id": ZIP_ID, "tags": ["blurry"]}
    assert client.get(f"{examples}/tags").json()["tags"] == ["blurry"]

    corrections = f"/api/v1/projects/{project.id}/label-corrections"
    assert client.put(f"{corrections}/{spelled}", json={"corrected_label": "cat"}).status_code == 204
    listed = client.get(corrections).json()["corrections"]
    assert [(c["example_id"], c["corrected_label"]) for c in listed] == [(ZIP_ID, "cat")]
    assert client.delete(f"{corrections}/{spelled}").status_code == 204
    assert client.get(corrections).json()["corrections"] == []


def test_an_example_image_route_takes_a_slash_id_to_the_lookup(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="digits")
    response = client.get(f"/api/v1/projects/{project.id}/examples/{ZIP_ID}/image.png")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Example {ZIP_ID!r} not found"}  # the service's, not the router's


def test_a_metric_key_with_a_slash_reads_back(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), status="running")
    log_points(session, run, {"train/loss": [0.9, 0.5]})
    response = client.get(f"/api/v1/runs/{run.id}/metrics/train/loss")
    assert response.status_code == 200, response.text
    assert response.json()["points"] == [[1, 0.9], [2, 0.5]]
