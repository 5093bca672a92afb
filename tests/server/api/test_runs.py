import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.services.checkpoint_files import checkpoint_path
from tests.factories import log_points, make_project, make_run


@pytest.fixture
def project_id(client: TestClient) -> int:
    return client.post("/api/v1/projects", json={"name": "runs", "dataset": "digits"}).json()["id"]


def test_submit_run_with_empty_config_fills_dataset_defaults(client: TestClient, project_id: int) -> None:
    response = client.post("/api/v1/runs", json={"project_id": project_id, "config": {}})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "queued"
    assert run["dataset"] == "digits"
    assert run["config"]["model"]["name"] == "mlp"
    assert run["config"]["hparams"]["epochs"] >= 1
    assert run["config"]["hparams"]["optimizer"] in {"sgd", "momentum", "rmsprop", "adam"}
    assert run["name"] == f"run-{run['id']}"


def test_submit_keeps_the_users_values(client: TestClient, project_id: int) -> None:
    config = {"model": {"name": "mlp", "hidden": [32, 16]}, "hparams": {"lr": 0.05, "optimizer": "sgd"}}
    run = client.post(
        "/api/v1/runs", json={"project_id": project_id, "name": "mine", "config": config}
    ).json()
    assert run["config"]["model"]["hidden"] == [32, 16]
    assert run["config"]["hparams"]["lr"] == 0.05
    assert run["config"]["hparams"]["optimizer"] == "sgd"
    assert run["name"] == "mine"


@pytest.mark.parametrize(
    ("hparams", "loc"),
    [
        ({"lr": -0.1}, ["body", "config", "hparams", "lr"]),
        ({"keep_prob": 1.5}, ["body", "config", "hparams", "keep_prob"]),
        ({"optimizer": "adagrad"}, ["body", "config", "hparams", "optimizer"]),
        ({"epochs": "many"}, ["body", "config", "hparams", "epochs"]),
        ({"learning_rate": 0.1}, ["body", "config", "hparams", "learning_rate"]),
    ],
)
def test_bad_hparams_are_422_naming_the_field(
    client: TestClient, project_id: int, hparams: dict, loc: list
) -> None:
    response = client.post("/api/v1/runs", json={"project_id": project_id, "config": {"hparams": hparams}})
    assert response.status_code == 422
    assert loc in [d["loc"] for d in response.json()["detail"]]


def test_bad_model_config_is_422_naming_the_model_field(client: TestClient, project_id: int) -> None:
    response = client.post(
        "/api/v1/runs", json={"project_id": project_id, "config": {"model": {"name": "transformer9000"}}}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "config", "model"]


def test_unknown_project_and_missing_field(client: TestClient) -> None:
    response = client.post("/api/v1/runs", json={"project_id": 424242})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "project_id"]
    assert "Project 424242 not found" in response.json()["detail"][0]["msg"]
    response = client.post("/api/v1/runs", json={"config": {}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "project_id"]


def test_external_run_starts_running_and_finishes(client: TestClient, project_id: int) -> None:
    run = client.post(
        "/api/v1/runs", json={"project_id": project_id, "external": True, "params": {"lr": 0.1}}
    ).json()
    assert run["status"] == "running"
    assert run["params"] == {"lr": 0.1}
    finished = client.post(f"/api/v1/runs/{run['id']}/finish", json={"status": "succeeded"}).json()
    assert finished["status"] == "succeeded"
    assert finished["finished_at"] is not None


def test_queued_run_on_external_project_is_refused(client: TestClient) -> None:
    project = client.post("/api/v1/projects", json={"name": "ext", "dataset": "external"}).json()
    response = client.post("/api/v1/runs", json={"project_id": project["id"]})
    assert response.status_code == 422
    assert "external: true" in response.json()["detail"][0]["msg"]


def test_worker_lifecycle_start_progress_finish(client: TestClient, project_id: int) -> None:
    run_id = client.post("/api/v1/runs", json={"project_id": project_id}).json()["id"]
    started = client.post(f"/api/v1/runs/{run_id}/start", json={"worker": "w1:1"}).json()
    assert started["status"] == "running"
    assert started["attempt"] == 1
    progress = {"epoch": 2, "epochs": 10, "step": 5, "steps": 20, "eta_s": 3.5}
    assert client.post(f"/api/v1/runs/{run_id}/progress", json=progress).json() == {"status": "running"}
    assert client.get(f"/api/v1/runs/{run_id}").json()["progress"]["epoch"] == 2
    done = client.post(f"/api/v1/runs/{run_id}/finish", json={"status": "failed", "error": "out of\nmemory"})
    assert done.json()["error"] == "out of memory"
    again = client.post(f"/api/v1/runs/{run_id}/start", json={"worker": "w2:1"})
    assert again.status_code == 409
    assert again.json()["detail"] == f"Run {run_id} is already failed"


def test_cancel_is_seen_by_the_worker_and_cannot_repeat(client: TestClient, project_id: int) -> None:
    run_id = client.post("/api/v1/runs", json={"project_id": project_id}).json()["id"]
    client.post(f"/api/v1/runs/{run_id}/start", json={})
    assert client.post(f"/api/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"
    reply = client.post(f"/api/v1/runs/{run_id}/progress", json={"epoch": 1, "epochs": 2})
    assert reply.json() == {"status": "cancelled"}
    assert client.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409


def test_list_runs_filters_sorts_by_summary_metric_and_pages(client: TestClient, session: Session) -> None:
    project = make_project(session)
    other = make_project(session)
    errors = {"a": 0.3, "b": 0.1, "c": 0.2}
    for name, dev_error in errors.items():
        log_points(session, make_run(session, project, name=name), {"dev_error": [0.9, dev_error]})
    make_run(session, project, name="no-metrics", status="queued")
    make_run(session, other, name="elsewhere")
    url = "/api/v1/runs"
    ascending = client.get(url, params={"project_id": project.id, "sort": "dev_error"}).json()
    assert ascending["total"] == 4
    assert [r["name"] for r in ascending["items"]] == ["b", "c", "a", "no-metrics"]
    descending = client.get(url, params={"project_id": project.id, "sort": "-dev_error", "limit": 2}).json()
    assert [r["name"] for r in descending["items"]] == ["a", "c"]
    second = client.get(url, params={"project_id": project.id, "sort": "-dev_error", "limit": 2, "offset": 2})
    assert [r["name"] for r in second.json()["items"]] == ["b", "no-metrics"]
    queued = client.get(url, params={"project_id": project.id, "status": "queued"}).json()
    assert [r["name"] for r in queued["items"]] == ["no-metrics"]
    assert ascending["items"][0]["summary"]["dev_error"] == 0.1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"sort": "dev error; drop"}, "sort"),
        ({"status": "sleeping"}, "status"),
        ({"offset": -1}, "offset"),
    ],
)
def test_list_runs_bad_query_is_422(client: TestClient, params: dict, field: str) -> None:
    response = client.get("/api/v1/runs", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_unknown_run_is_404(client: TestClient) -> None:
    for method, path in [("get", "/api/v1/runs/777777"), ("post", "/api/v1/runs/777777/cancel")]:
        response = getattr(client, method)(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Run 777777 not found"}


def test_checkpoint_round_trip(client: TestClient, project_id: int) -> None:
    run_id = client.post("/api/v1/runs", json={"project_id": project_id}).json()["id"]
    checkpoint_path(run_id).unlink(missing_ok=True)  # ids repeat across the rolled-back test databases
    assert client.get(f"/api/v1/runs/{run_id}/checkpoint").status_code == 404
    blob = bytes(range(256)) * 100
    assert client.put(f"/api/v1/runs/{run_id}/checkpoint", content=blob).status_code == 204
    assert client.get(f"/api/v1/runs/{run_id}/checkpoint").content == blob


def test_a_second_worker_cannot_take_a_run_that_is_alive(client: TestClient, project_id: int) -> None:
    run_id = client.post("/api/v1/runs", json={"project_id": project_id}).json()["id"]
    assert client.post(f"/api/v1/runs/{run_id}/start", json={"worker": "a@host"}).status_code == 200
    taken = client.post(f"/api/v1/runs/{run_id}/start", json={"worker": "b@host"})
    assert taken.status_code == 409
    assert taken.json()["detail"] == f"Run {run_id} is already running on a@host"
    again = client.post(
        f"/api/v1/runs/{run_id}/start", json={"worker": "a@host"}
    )  # redelivered to the same node
    assert again.json()["attempt"] == 2


def test_a_new_run_never_inherits_a_stale_checkpoint_under_its_id(
    client: TestClient, project_id: int
) -> None:
    first = client.post("/api/v1/runs", json={"project_id": project_id}).json()["id"]
    # As after a database reset over a kept data folder: a file already sits under the next id.
    checkpoint_path(first + 1).parent.mkdir(parents=True, exist_ok=True)
    checkpoint_path(first + 1).write_bytes(b"another run's weights")
    second = client.post("/api/v1/runs", json={"project_id": project_id}).json()["id"]
    assert second == first + 1
    assert client.get(f"/api/v1/runs/{second}/checkpoint").status_code == 404
