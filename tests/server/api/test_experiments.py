"""Try-next clones, the data-size curve and sorting runs by a gap."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import log_points, make_project, make_run


@pytest.fixture
def parent(client: TestClient) -> dict:
    project = client.post("/api/v1/projects", json={"name": "next", "dataset": "digits"}).json()
    config = {"model": {"name": "mlp", "hidden": [32]}, "hparams": {"epochs": 5, "l2": 0.0, "lr": 0.01}}
    response = client.post(
        "/api/v1/runs", json={"project_id": project["id"], "name": "base", "config": config}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_clone_applies_the_change_sets_the_parent_and_queues(client: TestClient, parent: dict) -> None:
    response = client.post(f"/api/v1/runs/{parent['id']}/clone", json={"changes": {"hparams.l2": 0.001}})

    assert response.status_code == 201, response.text
    child = response.json()
    assert child["status"] == "queued"
    assert child["parent_id"] == parent["id"]
    assert child["config"]["hparams"]["l2"] == 0.001
    # everything else is the parent's config
    assert child["config"]["model"] == parent["config"]["model"]
    assert {k: v for k, v in child["config"]["hparams"].items() if k != "l2"} == {
        k: v for k, v in parent["config"]["hparams"].items() if k != "l2"
    }
    assert child["params"]["changes"] == {"hparams.l2": 0.001}
    assert child["name"] == "base hparams.l2=0.001"


def test_clone_changes_a_model_option_and_takes_a_name(client: TestClient, parent: dict) -> None:
    response = client.post(
        f"/api/v1/runs/{parent['id']}/clone", json={"changes": {"model.hidden": [64]}, "name": "wider"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["config"]["model"]["hidden"] == [64]
    assert response.json()["name"] == "wider"


@pytest.mark.parametrize(
    ("changes", "path", "reason"),
    [
        ({"hparams.nope": 1}, "hparams.nope", "unknown hyperparameter"),
        ({"optimizer.lr": 1}, "optimizer.lr", "unknown config path"),
        ({"hparams": 1}, "hparams", "unknown config path"),
        ({"hparams.lr": -1}, "hparams.lr", "greater than 0"),
        ({"hparams.keep_prob": 1.5}, "hparams.keep_prob", "less than or equal to 1"),
        ({"hparams.optimizer": "magic"}, "hparams.optimizer", "'sgd', 'momentum', 'rmsprop' or 'adam'"),
        ({"model.wings": 2}, "model.wings", "Extra inputs are not permitted"),
    ],
)
def test_clone_refuses_a_bad_path_or_value_naming_it(
    client: TestClient, parent: dict, changes: dict, path: str, reason: str
) -> None:
    response = client.post(f"/api/v1/runs/{parent['id']}/clone", json={"changes": changes})

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "changes", path]
    assert error["msg"].startswith(f"{path}: ")
    assert reason in error["msg"]


def test_clone_of_an_unknown_run_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/runs/999999/clone", json={"changes": {"hparams.l2": 0.001}})
    assert response.status_code == 404
    assert response.json() == {"detail": "Run 999999 not found"}


def test_clone_needs_at_least_one_change(client: TestClient, parent: dict) -> None:
    response = client.post(f"/api/v1/runs/{parent['id']}/clone", json={"changes": {}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "changes"]


def test_data_size_curve_queues_four_children_at_the_fractions(client: TestClient, parent: dict) -> None:
    response = client.post(f"/api/v1/runs/{parent['id']}/data-size-curve")

    assert response.status_code == 201, response.text
    children = response.json()
    assert [c["config"]["hparams"]["train_fraction"] for c in children] == [0.1, 0.25, 0.5, 1.0]
    assert {c["parent_id"] for c in children} == {parent["id"]}
    assert {c["status"] for c in children} == {"queued"}
    assert all(c["params"]["data_size_curve_of"] == parent["id"] for c in children)
    assert [c["name"] for c in children] == [f"base @ {p} data" for p in ("10%", "25%", "50%", "100%")]
    # the same config otherwise
    assert all(c["config"]["model"] == parent["config"]["model"] for c in children)

    again = client.post(f"/api/v1/runs/{parent['id']}/data-size-curve")
    assert again.status_code == 409
    assert "already has a data-size curve" in again.json()["detail"]


def test_data_size_curve_reads_train_and_dev_error_by_examples(
    client: TestClient, session: Session, parent: dict
) -> None:
    assert client.get(f"/api/v1/runs/{parent['id']}/data-size-curve").status_code == 404
    children = client.post(f"/api/v1/runs/{parent['id']}/data-size-curve").json()
    errors = [(0.00, 0.30), (0.01, 0.20), (0.02, 0.12), (0.03, 0.07)]
    for child, (train, dev) in zip(children, errors, strict=True):
        points = [
            {"key": "train_error", "step": 1, "value": train},
            {"key": "dev_error", "step": 1, "value": dev},
        ]
        client.post(f"/api/v1/runs/{child['id']}/metrics", json={"metrics": points})
    # the worker logs how many examples it trained on; here only the first child did, so the others
    # fall back to the catalog
    client.post(
        f"/api/v1/runs/{children[0]['id']}/metrics",
        json={"metrics": [{"key": "train_examples", "step": 0, "value": 108}]},
    )

    body = client.get(f"/api/v1/runs/{parent['id']}/data-size-curve").json()

    # digits: 1797 examples, 60 % train split = 1078; the worker keeps ceil(fraction * 1078)
    assert [p["train_examples"] for p in body["points"]] == [108, 270, 539, 1078]
    assert [p["dev_error"] for p in body["points"]] == [0.30, 0.20, 0.12, 0.07]
    assert body["points"][-1]["gap"] == pytest.approx(0.04)
    assert body["pending"] == 4
    assert "keeps closing" in body["reading"] and "more data is likely to help" in body["reading"]


def test_runs_sort_by_a_gap(client: TestClient, session: Session) -> None:
    project = make_project(session, human_level_error=0.01)
    low = make_run(session, project, name="low-variance")
    high = make_run(session, project, name="high-variance")
    no_dev = make_run(session, project, name="no-dev")
    log_points(session, low, {"train_error": [0.05], "train_dev_error": [0.06], "dev_error": [0.20]})
    log_points(session, high, {"train_error": [0.02], "dev_error": [0.15]})  # variance = dev - train
    log_points(session, no_dev, {"train_error": [0.03]})

    def names(sort: str) -> list[str]:
        body = client.get("/api/v1/runs", params={"project_id": project.id, "sort": sort}).json()
        return [r["name"] for r in body["items"]]

    assert names("-variance") == ["high-variance", "low-variance", "no-dev"]
    assert names("variance") == ["low-variance", "high-variance", "no-dev"]
    # runs without the gap go last, newest first
    assert names("-data_mismatch") == ["low-variance", "no-dev", "high-variance"]
    assert names("avoidable_bias")[:3] == ["high-variance", "no-dev", "low-variance"]
