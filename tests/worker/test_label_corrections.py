"""Label corrections reach training: a run queued after "apply" trains and evaluates on corrected labels."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.tables import Prediction
from trainboard.client import Client
from trainboard.datasets import load_splits
from worker import runner

CONFIG = {"model": {"name": "mlp", "hidden": [8]}, "hparams": {"epochs": 1, "batch_size": 32}}


def _labels(session: Session, run_id: int, split: str) -> dict[str, str]:
    rows = session.execute(
        select(Prediction.example_id, Prediction.label).where(
            Prediction.run_id == run_id, Prediction.split == split
        )
    )
    return {example_id: label for example_id, label in rows}


def test_next_run_uses_the_corrected_dev_and_test_labels(client: TestClient, session: Session) -> None:
    # The worker's own client library, talking to the real app in-process (TestClient's transport).
    worker_client = Client("http://testserver", token="", transport=client._transport, sleep=lambda _: None)
    project = client.post("/api/v1/projects", json={"name": "wine-fix", "dataset": "wine"}).json()
    before = client.post("/api/v1/runs", json={"project_id": project["id"], "config": CONFIG}).json()
    splits = load_splits("wine")
    dev_id, test_id, train_id = splits.dev.ids[0], splits.test.ids[0], splits.train.ids[0]
    fixes = {dev_id: (int(splits.dev.y[0]) + 1) % 3, test_id: (int(splits.test.y[0]) + 1) % 3, train_id: 0}
    for example_id, label in fixes.items():
        url = f"/api/v1/projects/{project['id']}/label-corrections/{example_id}"
        assert client.put(url, json={"corrected_label": label}).status_code == 204
    assert client.post(f"/api/v1/projects/{project['id']}/label-corrections/apply").json() == {
        "dataset_version": 2
    }
    after = client.post("/api/v1/runs", json={"project_id": project["id"], "config": CONFIG}).json()
    assert (before["config"]["dataset_version"], after["config"]["dataset_version"]) == (1, 2)

    assert runner.execute(before["id"], client=worker_client, device_setting="cpu") == "succeeded"
    assert runner.execute(after["id"], client=worker_client, device_setting="cpu") == "succeeded"

    old_dev, new_dev = _labels(session, before["id"], "dev"), _labels(session, after["id"], "dev")
    assert old_dev[dev_id] == str(int(splits.dev.y[0]))  # queued before the corrections: version 1
    assert new_dev[dev_id] == str(fixes[dev_id])
    assert _labels(session, after["id"], "test")[test_id] == str(fixes[test_id])
    # Everything else keeps its label, and the training split is never touched (train_id is not scored).
    assert {k: v for k, v in new_dev.items() if k != dev_id} == {
        k: v for k, v in old_dev.items() if k != dev_id
    }
