"""The worker's run lifecycle through the real client against an in-memory API (httpx.MockTransport)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
import pytest
import torch

from tests.test_client import sent_points
from trainboard.client import Client
from worker import runner
from worker.reporting import ApiReporter, describe_error

WINE_MODEL = {"name": "mlp", "hidden": [16], "activation": "relu", "init": "he", "batch_norm": False}


class WorkerApi:
    """The routes a worker calls, for one run; records metrics, predictions and the finish."""

    def __init__(self, *, status: str = "queued", dataset: str = "wine", **hparams: Any) -> None:
        self.run = {
            "id": 5,
            "status": status,
            "dataset": dataset,
            "external": False,
            "attempt": 1,
            "config": {
                "model": WINE_MODEL,
                "hparams": {"epochs": 3, "batch_size": 16, "lr": 0.01, **hparams},
            },
        }
        self.metrics: dict[tuple[str, int], float] = {}
        self.times: dict[tuple[str, int], Any] = {}  # each point's timestamp as sent
        self.predictions: dict[str, list[dict[str, Any]]] = {}
        self.progress: list[dict[str, Any]] = []
        self.checkpoint: bytes | None = None
        self.finished: tuple[str, str | None] | None = None
        self.cancel_after_progress: int | None = None
        self.status_reads = 0
        self.claims: list[dict[str, Any]] = []  # the bodies of POST /start
        self.artifacts: dict[str, bytes] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        action = request.url.path.removeprefix("/api/v1/runs/5").strip("/")
        body = json.loads(request.content) if request.content and request.method == "POST" else None
        if action == "" and request.method == "GET":
            self.status_reads += 1
            return httpx.Response(200, json=self.run)
        if action == "start":
            self.claims.append(body)
            if self.run["status"] in ("succeeded", "failed", "diverged", "cancelled"):
                return httpx.Response(409, json={"detail": "Run has already finished"})
            self.run["status"] = "running"
            return httpx.Response(200, json=self.run)
        if action == "progress":
            self.progress.append(body)
            if self.cancel_after_progress is not None and len(self.progress) >= self.cancel_after_progress:
                self.run["status"] = "cancelled"
            return httpx.Response(200, json={"status": self.run["status"]})
        if action == "metrics":
            points = sent_points(body)
            self.metrics.update({(p["key"], p["step"]): p["value"] for p in points})
            self.times.update({(p["key"], p["step"]): p.get("timestamp") for p in points})
            return httpx.Response(200, json={"accepted": len(points)})
        if action == "predictions":
            self.predictions.setdefault(body["split"], []).extend(body["predictions"])
            return httpx.Response(200, json={"accepted": len(body["predictions"])})
        if action == "checkpoint" and request.method == "PUT":
            self.checkpoint = request.content
            return httpx.Response(204)
        if action == "checkpoint":
            if self.checkpoint is None:
                return httpx.Response(404, json={"detail": "No checkpoint"})
            return httpx.Response(200, content=self.checkpoint)
        if action.startswith("artifacts/") and request.method == "PUT":
            name = action.removeprefix("artifacts/")
            self.artifacts[name] = request.read()
            return httpx.Response(201, json={"path": name, "size": len(self.artifacts[name]), "sha256": ""})
        if action == "finish":
            self.finished = (body["status"], body["error"])
            self.run["status"] = body["status"]
            return httpx.Response(200, json=self.run)
        return httpx.Response(404, json={"detail": "Not found"})


def execute(api: WorkerApi) -> str:
    client = Client("http://tb.test", token="", transport=httpx.MockTransport(api), sleep=lambda _: None)
    return runner.execute(5, client=client, device_setting="cpu")


def test_execute_trains_reports_and_finishes() -> None:
    api = WorkerApi()
    assert execute(api) == "succeeded"
    assert api.finished == ("succeeded", None)
    assert {step for (key, step) in api.metrics if key == "dev_error"} == {1, 2, 3}
    assert api.metrics[("param_count", 0)] == 13 * 16 + 16 + 16 * 3 + 3
    assert len(api.predictions["dev"]) == 27 and len(api.predictions["test"]) == 26
    assert api.progress[-1]["epoch"] == 3 and api.checkpoint
    best = torch.load(io.BytesIO(api.artifacts["model/best.pt"]), weights_only=True)
    assert {k: best["model"][k] for k in WINE_MODEL} == WINE_MODEL
    shapes = sorted(tuple(t.shape) for t in best["state_dict"].values())
    assert shapes == [(3,), (3, 16), (16,), (16, 13)]  # the trained MLP's weights, loadable as they are


def test_each_epoch_is_stamped_when_it_ends() -> None:
    """Epochs of a small model end within the same second: stamped to the second, a run page's wall-time
    and relative-time charts drew every epoch at one instant."""
    api = WorkerApi()
    assert execute(api) == "succeeded"
    times = [api.times[("dev_error", epoch)] for epoch in (1, 2, 3)]
    assert None not in times and times == sorted(times) and len(set(times)) == 3, times


def test_the_worker_says_what_it_trains_with_when_it_claims_the_run() -> None:
    import platform
    import socket

    import torch

    api = WorkerApi()
    execute(api)
    [claim] = api.claims
    assert claim["environment"]["device"] == "cpu" and claim["environment"]["torch"] == torch.__version__
    assert claim["environment"]["host"] == socket.gethostname()
    assert claim["environment"]["python"] == platform.python_version()
    assert claim["environment"]["precision"] == "fp32"


def test_a_config_field_this_worker_does_not_know_fails_the_run_naming_it() -> None:
    api = WorkerApi(warmup_epochs=3)  # written by a newer server: training without it would change the run
    assert execute(api) == "failed"
    status, error = api.finished
    assert error.startswith("the run's config has hparams.warmup_epochs, which this worker does not know")
    assert "precision" not in api.claims[0]["environment"] and api.metrics == {}


def test_execute_skips_a_finished_run() -> None:
    api = WorkerApi(status="succeeded")
    assert execute(api) == "skipped"
    assert api.metrics == {} and api.finished is None


def test_execute_stops_quietly_when_cancelled() -> None:
    api = WorkerApi(epochs=20)
    api.cancel_after_progress = 1
    assert execute(api) == "cancelled"
    assert api.finished is None and "dev" not in api.predictions


def test_execute_resumes_a_redelivered_run_from_its_checkpoint() -> None:
    first = WorkerApi(epochs=3)
    first.cancel_after_progress = 1
    execute(first)
    second = WorkerApi(status="running", epochs=3)
    second.checkpoint = first.checkpoint
    assert execute(second) == "succeeded"
    assert {step for (key, step) in second.metrics if key == "dev_error"} == {2, 3}


def test_execute_marks_divergence() -> None:
    api = WorkerApi(lr=10.0, optimizer="sgd")  # the largest rate the schema takes, on three layers
    api.run["config"]["model"] = {**WINE_MODEL, "hidden": [64, 64, 64]}
    assert execute(api) == "diverged"
    status, error = api.finished
    assert status == "diverged" and error.startswith("loss became")


def test_execute_fails_with_a_readable_reason() -> None:
    api = WorkerApi(dataset="imagenet")
    assert execute(api) == "failed"
    assert api.finished == (
        "failed",
        "unknown dataset 'imagenet'; built-in datasets are breast_cancer, digits, digits-shifted, "
        "digits-source, digits-target, digits-tasks, wine",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\n..."),
            "out of memory on cuda:0 with batch_size 4096: try a smaller batch or a smaller model",
        ),
        (
            ValueError("hparams.lr must be a positive number, but got lr=-1"),
            "hparams.lr must be a positive number, but got lr=-1",
        ),
        (KeyError("model"), "KeyError: 'model'"),
    ],
)
def test_describe_error_gives_one_line(exc: Exception, expected: str) -> None:
    assert describe_error(exc, device="cuda:0", batch_size=4096) == expected


def test_reporter_sees_a_cancel_between_heartbeats() -> None:
    api = WorkerApi(status="running")
    client = Client("http://tb.test", token="", transport=httpx.MockTransport(api), sleep=lambda _: None)
    with ApiReporter(client, 5, poll_interval_s=0.01) as reporter:
        time.sleep(0.05)
        assert not reporter.stop.is_set() and api.status_reads >= 1
        api.run["status"] = "cancelled"
        assert reporter.stop.wait(timeout=2)
    assert reporter.status == "cancelled" and api.progress == []


def test_the_worker_samples_system_metrics_into_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainboard.settings import get_settings

    monkeypatch.setenv("TRAINBOARD_SYSTEM_METRICS_INTERVAL_S", "0.02")
    get_settings.cache_clear()
    try:
        api = WorkerApi(epochs=40)
        assert execute(api) == "succeeded"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    system = {key for key, _ in api.metrics if key.startswith("system/")}
    assert {"system/cpu_percent", "system/memory_percent", "system/process_memory_gb"} <= system
