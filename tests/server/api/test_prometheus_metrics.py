"""GET /metrics: what a Prometheus scraper reads (requests by route template, points ingested, runs by status,
the queue, heartbeats, each running run's speed), and who may read it when auth is on."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import make_project, make_run
from tests.server.accounts import auth_turned_on, client_as, make_user, token_for


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus's text format (0 when it is absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_:]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and ",".join(sorted((match[2] or "").split(","))) == wanted:
            return float(match[3])
    return 0.0


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def test_metrics_count_requests_points_runs_and_heartbeats(client: TestClient, session: Session) -> None:
    project = make_project(session)
    running = make_run(session, project, status="running")
    make_run(session, project, status="queued")
    make_run(session, project, status="queued")
    route = "/api/v1/runs/{run_id}/metrics"
    before = scrape(client)

    points = [{"key": "loss", "step": step, "value": 0.5} for step in range(7)]
    assert client.post(f"/api/v1/runs/{running.id}/metrics", json={"metrics": points}).status_code == 200
    assert (
        client.post(
            f"/api/v1/runs/{running.id}/progress", json={"epoch": 3, "epochs": 9, "examples_per_sec": 1234.5}
        ).status_code
        == 200
    )
    assert client.get("/api/v1/runs/999999").status_code == 404
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("trainboard_http_requests_total", method="POST", route=route, status="200") == 1
    assert (
        grew("trainboard_http_requests_total", method="GET", route="/api/v1/runs/{run_id}", status="404") == 1
    )
    assert grew("trainboard_http_request_duration_seconds_count", method="POST", route=route) == 1
    assert grew("trainboard_metric_points_ingested_total") == 7
    assert grew("trainboard_worker_heartbeats_total") == 1
    assert sample(after, "trainboard_runs", status="queued") == 2
    assert sample(after, "trainboard_runs", status="running") == 1
    assert sample(after, "trainboard_queue_length") == 2
    assert sample(after, "trainboard_run_examples_per_second", run_id=str(running.id)) == 1234.5
    assert sample(after, "trainboard_run_epoch", run_id=str(running.id)) == 3
    assert f'/api/v1/runs/{running.id}"' not in after, "paths are grouped by their route template"


def test_with_auth_on_metrics_need_the_metrics_token_a_worker_token_or_an_admin(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINBOARD_METRICS_TOKEN", "scraper-secret-123")
    with auth_turned_on(monkeypatch):
        admin, user = make_user(session, "root", is_admin=True), make_user(session, "ann")
        readers = ["scraper-secret-123", token_for(session, None, kind="worker"), token_for(session, admin)]
        for token in readers:
            with client_as(app, token) as client:
                assert client.get("/metrics").status_code == 200
        for token in (None, "wrong", token_for(session, user)):
            with client_as(app, token) as client:
                assert client.get("/metrics").status_code == 401, token
