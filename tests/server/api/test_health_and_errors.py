from fastapi.testclient import TestClient


def test_health_reports_database_and_broker(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body == {"status": "ok", "database": "ok", "broker": "ok"}


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    response = client.post(
        "/api/v1/projects", content="{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "detail" in response.json()


def test_every_error_has_a_detail(client: TestClient) -> None:
    for method, path in [
        ("get", "/api/v1/nothing-here"),
        ("delete", "/api/v1/projects"),
        ("get", "/api/v1/runs/x"),
    ]:
        response = getattr(client, method)(path)
        assert 400 <= response.status_code < 500
        assert "detail" in response.json()


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/runs/{run_id}/metrics/{key}" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_ids_beyond_the_database_range_are_422_naming_the_parameter(client: TestClient) -> None:
    # Found by schemathesis: ids past 64 bits reached SQLite and came back as a 500.
    for path, name in [
        ("/api/v1/runs/18858865274733283458815098880", "run_id"),
        ("/api/v1/sweeps/1052555558320353960787968", "sweep_id"),
        ("/api/v1/datasets/99999999999", "dataset_id"),
    ]:
        response = client.get(path)
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["loc"] == ["path", name]


def test_a_query_number_beyond_the_database_range_is_422(client: TestClient) -> None:
    project = client.post("/api/v1/projects", json={"name": "p", "dataset": "digits"}).json()
    response = client.get(
        f"/api/v1/projects/{project['id']}/label-corrections", params={"version": 5604092500229836767232}
    )
    assert response.status_code == 422
    assert "detail" in response.json()
