"""With its database unreachable the server answers 503 with a detail (clients retry), never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.app import create_app
from server.db import get_session, make_engine
from tests.processes import free_port


@pytest.fixture
def unreachable_client() -> Iterator[TestClient]:
    # A real PostgreSQL engine aimed at a port where nothing listens: every connection attempt is refused.
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/trainboard")
    app = create_app(run_reaper=False)

    def session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = session
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/runs", None),
        ("POST", "/api/v1/projects", {"name": "p", "dataset": "external"}),
        ("POST", "/api/v1/runs/1/metrics", {"metrics": [{"key": "a", "step": 1, "value": 0.5}]}),
    ],
)
def test_api_answers_503_with_a_detail(unreachable_client: TestClient, method: str, path: str, body) -> None:  # type: ignore[no-untyped-def]
    response = unreachable_client.request(method, path, json=body)
    assert response.status_code == 503
    assert response.json() == {"detail": "The database is unavailable; try again shortly"}
    assert response.headers["retry-after"] == "5"


def test_health_reports_the_database_down(unreachable_client: TestClient) -> None:
    response = unreachable_client.get("/api/v1/health")
    assert response.status_code == 200 and response.json()["database"] == "down"


def test_pages_show_a_503_page(unreachable_client: TestClient) -> None:
    response = unreachable_client.get("/runs/1")
    assert response.status_code == 503
    assert "The database is unavailable" in response.text
