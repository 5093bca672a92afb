"""A real server and a real Celery worker process: submit through the API, wait for the trained run.

Once with the embedded broker (a SQLite file: no server needed), once with Redis, and once with
PostgreSQL + Redis as in production.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.backends import postgres_schema, redis_url, require_service
from tests.processes import (
    admin_token,
    server_process,
    trainboard_env,
    wait_for_run,
    wait_until,
    worker_process,
    worker_token,
)
from trainboard.client import Client

pytestmark = pytest.mark.e2e


def _fresh_redis() -> str:
    url = redis_url()
    require_service("Redis", url)
    redis.Redis.from_url(url).flushdb()  # the tests' own database number: no stale tasks from earlier runs
    return url


@pytest.fixture
def postgres_schema_url():  # type: ignore[no-untyped-def]
    with postgres_schema("tb_e2e") as url:
        yield url


@pytest.mark.parametrize("backend", ["embedded", "embedded+auth", "redis", "postgres+redis"])
def test_submitted_run_is_trained_by_a_real_worker(backend: str, tmp_path: Path, request) -> None:  # type: ignore[no-untyped-def]
    settings: dict[str, str] = {"auth": "on"} if backend.endswith("auth") else {}
    if "redis" in backend:
        settings["broker_url"] = _fresh_redis()
    if backend.startswith("postgres"):
        settings["database_url"] = request.getfixturevalue("postgres_schema_url")
    env = trainboard_env(tmp_path / "home", **settings)
    # With auth on, the user's script and the worker each send their own token: a worker token does
    # exactly what training needs (server/worker_scope.py), and this run needs all of it.
    user_token = admin_token(env) if "auth" in settings else None
    worker_env = {**env, "TRAINBOARD_API_TOKEN": worker_token(env)} if "auth" in settings else env
    with (
        server_process(env, tmp_path / "server.log") as url,
        worker_process(worker_env, url, tmp_path / "worker.log"),
        Client(server_url=url, token=user_token or "") as client,
    ):
        project = client.create_project(name="digits e2e", dataset="digits")
        submitted = client.create_run(project["id"], config={}, external=False)
        assert submitted["status"] == "queued"
        run = wait_for_run(client, submitted["id"], timeout=240)
        logs = (tmp_path / "worker.log").read_text()[-3000:]
        assert run["status"] == "succeeded", f"{run['error']}\n{logs}"
        assert run["environment"]["device"] == "cpu" and run["environment"]["torch"]  # sent with its claim

        epochs = run["config"]["hparams"]["epochs"]
        assert run["summary"]["dev_error"] < 0.10
        for key in (
            "train_error",
            "train_dev_error",
            "dev_error",
            "test_error",
            "train_loss",
            "dev_loss",
            "lr",
        ):
            series = client.request("GET", f"/runs/{run['id']}/metrics/{key}").json()
            steps = [step for step, _ in series["points"]]
            assert steps[-epochs:] == list(range(1, epochs + 1)) or steps == list(range(1, len(steps) + 1)), (
                key
            )
        errors = client.request("GET", f"/runs/{run['id']}/errors", params={"split": "dev"}).json()
        analysis = client.request("GET", f"/runs/{run['id']}/error-analysis").json()
        assert analysis["errors"] == errors["total"]
        assert analysis["error_rate"] == pytest.approx(run["summary"]["dev_error"], abs=1e-9)
        assert (
            client.request("GET", f"/runs/{run['id']}/error-analysis", params={"split": "test"}).json()[
                "examples"
            ]
            > 0
        )

        # A gradient check goes through the same queue, by task name, and comes back through the API.
        body = {"dataset": "wine", "config": {"model": {"name": "mlp", "hidden": [4]}}}
        check = client.request("POST", "/gradcheck", json=body).json()
        done = wait_until(
            lambda: (
                (c := client.request("GET", f"/gradcheck/{check['id']}").json())["status"] != "queued" and c
            ),
            120,
            "the gradient check",
        )
        assert (done["status"], done["reading"]) == ("done", "great")
