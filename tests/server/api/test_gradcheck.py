"""Gradient checks over the API, without a worker: what a broker that is down leaves behind."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.deps import current_queue
from server.services import gradcheck
from server.tables import GradientCheck


class BrokerDownQueue:
    def enqueue_gradcheck(self, check_id: str) -> bool:
        return False


def test_a_check_the_broker_refused_is_503_and_failed_not_left_queued(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    app.dependency_overrides[current_queue] = BrokerDownQueue
    response = client.post("/api/v1/gradcheck", json={"dataset": "wine"})
    assert response.status_code == 503
    assert response.json()["detail"] == "The broker is not reachable: the gradient check was not queued"
    check = session.scalars(select(GradientCheck)).one()
    assert (check.status, check.dataset) == ("failed", "wine")
    assert client.get(f"/api/v1/gradcheck/{check.id}").json()["status"] == "failed"
    assert gradcheck.queued_datasets(session=session) == set()  # no worker may fetch its data for it
