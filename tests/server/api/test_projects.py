from fastapi.testclient import TestClient


def _create(client: TestClient, **fields: object) -> dict:
    body = {"name": "digits baseline", "dataset": "digits", **fields}
    response = client.post("/api/v1/projects", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_project_returns_it_with_defaults(client: TestClient) -> None:
    project = _create(client, human_level_error=0.01)
    assert project["name"] == "digits baseline"
    assert project["optimizing_metric"] == "dev_error"
    assert project["human_level_error"] == 0.01
    assert client.get(f"/api/v1/projects/{project['id']}").json()["name"] == "digits baseline"


def test_create_project_refuses_unknown_dataset(client: TestClient) -> None:
    response = client.post("/api/v1/projects", json={"name": "p", "dataset": "imagenet"})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "dataset"]
    assert "Unknown dataset 'imagenet'" in detail["msg"]


def test_create_project_refuses_missing_name_and_bad_human_error(client: TestClient) -> None:
    response = client.post("/api/v1/projects", json={"dataset": "digits", "human_level_error": 8})
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert ("body", "name") in locs
    assert ("body", "human_level_error") in locs


def test_duplicate_project_name_is_a_conflict(client: TestClient) -> None:
    _create(client)
    response = client.post("/api/v1/projects", json={"name": "digits baseline", "dataset": "wine"})
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_satisficing_constraint_needs_exactly_one_bound(client: TestClient) -> None:
    response = client.post(
        "/api/v1/projects",
        json={
            "name": "p",
            "dataset": "digits",
            "satisficing": [{"metric": "latency_ms_b1", "max": 10, "min": 1}],
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "satisficing", 0]


def test_patch_sets_and_clears_human_level_error(client: TestClient) -> None:
    project = _create(client)
    url = f"/api/v1/projects/{project['id']}"
    assert client.patch(url, json={"human_level_error": 0.05}).json()["human_level_error"] == 0.05
    assert client.patch(url, json={"description": "x"}).json()["human_level_error"] == 0.05
    assert client.patch(url, json={"human_level_error": None}).json()["human_level_error"] is None


def test_list_projects_pages_and_finds_by_name(client: TestClient) -> None:
    for name in ("a", "b", "c"):
        _create(client, name=name)
    page = client.get("/api/v1/projects", params={"limit": 2}).json()
    assert page["total"] == 3
    assert [p["name"] for p in page["items"]] == ["c", "b"]
    found = client.get("/api/v1/projects", params={"name": "b"}).json()
    assert [p["name"] for p in found["items"]] == ["b"]


def test_unknown_project_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/projects/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Project 999999 not found"}


def test_datasets_lists_builtins(client: TestClient) -> None:
    names = {d["name"] for d in client.get("/api/v1/datasets").json()}
    assert {"digits", "digits-shifted", "breast_cancer", "wine"} <= names
