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
