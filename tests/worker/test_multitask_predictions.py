"""A multi-task run's predictions reach the server once per labelled (example, task): the worker trains the
built-in digits-tasks for one epoch through its client library, against the real app (both databases)."""

from __future__ import annotations

from collections import Counter

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.tables import Prediction
from trainboard.client import Client
from trainboard.datasets import DATASETS, load_splits
from worker import runner

CONFIG = {"model": {"name": "mlp", "hidden": [16]}, "hparams": {"epochs": 1, "batch_size": 64}}
TASKS = DATASETS["digits-tasks"].tasks


def test_a_multi_task_run_posts_each_tasks_predictions(client: TestClient, session: Session) -> None:
    worker_client = Client("http://testserver", token="", transport=client._transport, sleep=lambda _: None)
    project = client.post("/api/v1/projects", json={"name": "tasks", "dataset": "digits-tasks"}).json()
    run = client.post("/api/v1/runs", json={"project_id": project["id"], "config": CONFIG}).json()
    assert runner.execute(run["id"], client=worker_client, device_setting="cpu") == "succeeded"

    splits = load_splits("digits-tasks")
    for split, data in (("dev", splits.dev), ("test", splits.test)):
        stored = Counter(
            session.scalars(
                select(Prediction.task).where(Prediction.run_id == run["id"], Prediction.split == split)
            )
        )
        labelled = {task: int((data.y[:, k] >= 0).sum()) for k, task in enumerate(TASKS)}
        assert stored == labelled, split  # -1 entries are not predictions
    summary = client.get(f"/api/v1/runs/{run['id']}").json()["summary"]
    for task in TASKS:
        counts = client.get(f"/api/v1/runs/{run['id']}/error-analysis?task={task}").json()
        assert counts["examples"] == summary[f"{task}/dev_examples"]
        # The predictions are the model the summary describes: the same dev error per task.
        assert counts["error_rate"] == summary[f"{task}/dev_error"]


def test_a_run_of_one_task_alone_posts_single_task_predictions(client: TestClient, session: Session) -> None:
    worker_client = Client("http://testserver", token="", transport=client._transport, sleep=lambda _: None)
    project = client.post("/api/v1/projects", json={"name": "loop", "dataset": "digits-tasks"}).json()
    config = {**CONFIG, "task": "loop"}
    run = client.post("/api/v1/runs", json={"project_id": project["id"], "config": config}).json()
    assert runner.execute(run["id"], client=worker_client, device_setting="cpu") == "succeeded"
    tasks = set(session.scalars(select(Prediction.task).where(Prediction.run_id == run["id"])))
    assert tasks == {None}
    labelled = int((load_splits("digits-tasks").dev.y[:, TASKS.index("loop")] >= 0).sum())
    assert client.get(f"/api/v1/runs/{run['id']}/error-analysis").json()["examples"] == labelled
