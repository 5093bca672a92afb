"""Seed groups through the API: a run's group, "repeat with N seeds", and a project's group statistics."""

from __future__ import annotations

import math

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.services import groups
from tests.factories import log_points, make_project, make_run
from tests.server.accounts import add_member, auth_turned_on, client_as, make_user, token_for

CONFIG = {"model": {"name": "mlp", "hidden": [32]}, "hparams": {"epochs": 5, "lr": 0.01, "seed": 5}}


@pytest.fixture
def project_id(client: TestClient) -> int:
    return client.post("/api/v1/projects", json={"name": "seeds", "dataset": "digits"}).json()["id"]


@pytest.fixture
def base(client: TestClient, project_id: int) -> dict:
    response = client.post("/api/v1/runs", json={"project_id": project_id, "name": "base", "config": CONFIG})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_run_keeps_its_group_in_every_read(client: TestClient, project_id: int) -> None:
    zoo = client.post("/api/v1/runs", json={"project_id": project_id, "config": CONFIG, "group": " wide "})
    external = client.post(
        "/api/v1/runs", json={"project_id": project_id, "external": True, "group": "script seeds"}
    )
    plain = client.post("/api/v1/runs", json={"project_id": project_id, "external": True})

    assert zoo.status_code == external.status_code == 201, (zoo.text, external.text)
    assert zoo.json()["group"] == "wide"  # surrounding spaces dropped
    assert client.get(f"/api/v1/runs/{external.json()['id']}").json()["group"] == "script seeds"
    listed = client.get("/api/v1/runs", params={"project_id": project_id, "sort": "id"}).json()["items"]
    assert [item["group"] for item in listed] == ["wide", "script seeds", None]
    assert plain.json()["group"] is None


@pytest.mark.parametrize(
    ("group", "reason"), [("", "at least 1"), ("   ", "at least 1"), ("g" * 201, "at most 200")]
)
def test_a_bad_group_is_422_naming_it(client: TestClient, project_id: int, group: str, reason: str) -> None:
    response = client.post("/api/v1/runs", json={"project_id": project_id, "external": True, "group": group})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "group"] and reason in error["msg"]


def _seed(run: dict) -> int:
    return run["config"]["hparams"]["seed"]


def test_repeat_queues_copies_that_differ_only_by_seed_in_a_new_group(client: TestClient, base: dict) -> None:
    response = client.post(f"/api/v1/runs/{base['id']}/repeat", json={"seeds": 3})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["group"] == "base seeds"
    assert [_seed(run) for run in body["runs"]] == [6, 7, 8]
    for run in body["runs"]:
        assert run["status"] == "queued" and run["parent_id"] == base["id"] and run["group"] == "base seeds"
        assert run["config"]["model"] == base["config"]["model"]
        assert {**run["config"]["hparams"], "seed": 5} == base["config"]["hparams"]
    # The original joins the group, so its numbers count with the copies'.
    assert client.get(f"/api/v1/runs/{base['id']}").json()["group"] == "base seeds"


def test_repeat_again_takes_seeds_the_group_has_not_used(client: TestClient, base: dict) -> None:
    first = client.post(f"/api/v1/runs/{base['id']}/repeat").json()  # no body: 3 seeds
    copy = first["runs"][0]  # seed 6

    again = client.post(f"/api/v1/runs/{copy['id']}/repeat", json={"seeds": 2}).json()

    assert [_seed(run) for run in first["runs"]] == [6, 7, 8]
    assert again["group"] == first["group"] == "base seeds"
    assert [_seed(run) for run in again["runs"]] == [9, 10]
    assert {run["parent_id"] for run in again["runs"]} == {copy["id"]}


def test_repeat_keeps_a_group_the_run_already_has(client: TestClient, project_id: int) -> None:
    run = client.post(
        "/api/v1/runs", json={"project_id": project_id, "config": CONFIG, "group": "mine"}
    ).json()
    body = client.post(f"/api/v1/runs/{run['id']}/repeat", json={"seeds": 1}).json()
    assert body["group"] == "mine" and [r["group"] for r in body["runs"]] == ["mine"]


@pytest.mark.parametrize("seeds", [0, 11, -1, "three"])
def test_repeat_seeds_out_of_range_is_422_naming_seeds(client: TestClient, base: dict, seeds: object) -> None:
    response = client.post(f"/api/v1/runs/{base['id']}/repeat", json={"seeds": seeds})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "seeds"]
    assert client.get("/api/v1/runs", params={"project_id": base["project_id"]}).json()["total"] == 1


def test_repeat_of_an_unknown_run_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/runs/999999/repeat", json={"seeds": 3})
    assert response.status_code == 404
    assert response.json() == {"detail": "Run 999999 not found"}


def test_groups_report_mean_std_and_n_from_the_stored_summaries(client: TestClient, session: Session) -> None:
    project = make_project(session)
    a = [make_run(session, project, group="lr 0.01") for _ in range(3)]
    failed = make_run(session, project, group="lr 0.01", status="failed")
    b = make_run(session, project, group="lr 0.1")
    make_run(session, project)  # no group
    make_run(session, make_project(session), group="lr 0.01")  # another project's group of that name
    for run, dev, train in zip(a, [0.10, 0.12, 0.14], [0.02, 0.04, None], strict=True):
        # Two epochs each: the summary is the latest value.
        log_points(
            session, run, {"dev_error": [0.5, dev], **({"train_error": [0.3, train]} if train else {})}
        )
    log_points(session, failed, {"dev_error": [0.9]})  # a failed run's number does not count
    log_points(session, b, {"dev_error": [0.2]})

    response = client.get(f"/api/v1/projects/{project.id}/groups")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 2
    newest, older = body["items"]
    assert newest == {
        "group": "lr 0.1",
        "n": 1,
        "run_ids": [b.id],
        "summary": {"dev_error": {"mean": pytest.approx(0.2), "std": None, "n": 1}},
    }
    assert older["group"] == "lr 0.01"
    assert older["n"] == 4 and older["run_ids"] == [r.id for r in [*a, failed]]
    assert older["summary"] == {
        "dev_error": {"mean": pytest.approx(0.12), "std": pytest.approx(0.02), "n": 3},
        "train_error": {"mean": pytest.approx(0.03), "std": pytest.approx(math.sqrt(0.0002)), "n": 2},
    }
    paged = client.get(f"/api/v1/projects/{project.id}/groups", params={"limit": 1, "offset": 1}).json()
    assert paged["total"] == 2 and [item["group"] for item in paged["items"]] == ["lr 0.01"]


def test_group_summary_reads_one_group_like_the_list(client: TestClient, session: Session) -> None:
    project = make_project(session)
    for dev in (0.2, 0.4):
        log_points(session, make_run(session, project, group="g"), {"dev_error": [dev]})
    make_run(session, project, group="other")

    one = groups.group_summary(session=session, project_id=project.id, group="g")

    listed = client.get(f"/api/v1/projects/{project.id}/groups").json()["items"]
    assert one.model_dump() == next(item for item in listed if item["group"] == "g")
    assert (one.n, one.summary["dev_error"].std) == (2, pytest.approx(math.sqrt(0.02)))
    with pytest.raises(NotFound, match="Group 'nope' not found"):
        groups.group_summary(session=session, project_id=project.id, group="nope")


def test_groups_of_an_unknown_project_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/projects/999999/groups")
    assert response.status_code == 404
    assert response.json() == {"detail": "Project 999999 not found"}


def test_a_viewer_reads_groups_but_cannot_repeat(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(session)
    run = make_run(session, project, group="g", config={**CONFIG, "hparams": {**CONFIG["hparams"]}})
    viewer, outsider = make_user(session, "viewer"), make_user(session, "outsider")
    add_member(session, project, viewer, "viewer")
    with auth_turned_on(monkeypatch):
        with client_as(app, token_for(session, viewer)) as as_viewer:
            assert as_viewer.get(f"/api/v1/projects/{project.id}/groups").json()["total"] == 1
            assert as_viewer.post(f"/api/v1/runs/{run.id}/repeat", json={"seeds": 3}).status_code == 403
        with client_as(app, token_for(session, outsider)) as as_outsider:
            assert as_outsider.get(f"/api/v1/projects/{project.id}/groups").status_code == 404
