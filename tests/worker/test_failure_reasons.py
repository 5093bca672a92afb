"""A run that fails says why in one line a user understands: out of memory (GPU or RAM), a CUDA error, a
dataset deleted before the worker fetched it, or another worker having taken the run over."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from server.services.datasets import dataset_path
from tests.dataset_files import npz_bytes
from tests.worker.test_runner import WorkerApi, execute
from trainboard.client import Client
from worker import runner
from worker.reporting import ApiReporter, describe_error


def failing_fit(exc: BaseException):  # type: ignore[no-untyped-def]
    def fit(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise exc

    return fit


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            torch.cuda.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.8 GiB total)"
            ),
            "out of memory on cpu with batch_size 16: try a smaller batch or a smaller model",
        ),
        (
            MemoryError(),
            "the worker ran out of memory (RAM) with batch_size 16: try a smaller batch or a smaller model, "
            "or fewer training processes per worker",
        ),
        (
            RuntimeError(
                "CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be "
                "asynchronously reported at some other API call, so the stacktrace below might be incorrect."
            ),
            "CUDA error on cpu: an illegal memory access was encountered (the GPU or its driver failed; "
            "check the worker's log and nvidia-smi, then submit the run again)",
        ),
        (
            RuntimeError("cuDNN error: CUDNN_STATUS_EXECUTION_FAILED"),
            "CUDA error on cpu: cuDNN error: CUDNN_STATUS_EXECUTION_FAILED (the GPU or its driver failed; "
            "check the worker's log and nvidia-smi, then submit the run again)",
        ),
    ],
)
def test_a_run_that_raises_fails_with_a_one_line_reason(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, expected: str
) -> None:
    monkeypatch.setattr(runner, "fit", failing_fit(exc))
    api = WorkerApi()
    assert execute(api) == "failed"
    assert api.finished == ("failed", expected)
    assert api.metrics == {} and "dev" not in api.predictions


def test_a_runtime_error_without_cuda_keeps_its_type() -> None:
    message = describe_error(
        RuntimeError("mat1 and mat2 shapes cannot be multiplied"), device="cuda:0", batch_size=8
    )
    assert message == "RuntimeError: mat1 and mat2 shapes cannot be multiplied"


def test_a_dataset_deleted_before_the_worker_fetched_it_fails_the_run(client: TestClient) -> None:
    rng = np.random.default_rng(int(time.time()))  # a file of its own: never in a worker's cache already
    y = np.arange(40) % 2
    data = npz_bytes(X=rng.normal(size=(40, 4)) + y[:, None], y=y)
    upload = client.post("/api/v1/datasets", data={"name": "gone"}, files={"file": ("gone.npz", data)})
    assert upload.status_code == 201, upload.text
    dataset_id = upload.json()["id"]
    project = client.post("/api/v1/projects", json={"name": "gone", "dataset": str(dataset_id)}).json()
    run_id = client.post("/api/v1/runs", json={"project_id": project["id"], "config": {}}).json()["id"]
    dataset_path(dataset_id).unlink()  # removed from the server's disk while the run waited in the queue

    api = Client(server_url="http://testserver", token="", transport=client._transport)
    assert runner.execute(run_id, client=api, device_setting="cpu") == "failed"
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert run["error"] == (
        f"dataset {dataset_id} is no longer on the server (deleted after the run was queued): "
        "upload it again and submit a new run"
    )


def test_a_worker_stops_when_another_has_taken_its_run_over() -> None:
    api = WorkerApi(status="running")
    api.run["worker"] = "host-a:1"
    client = Client("http://tb.test", token="", transport=httpx.MockTransport(api), sleep=lambda _: None)
    with ApiReporter(client, 5, poll_interval_s=0.01, worker="host-a:1") as reporter:
        time.sleep(0.05)
        assert not reporter.stop.is_set()
        api.run["worker"] = (
            "host-b:2"  # the reaper re-queued it while host-a was cut off, and host-b claimed it
        )
        assert reporter.stop.wait(timeout=2)
    assert reporter.status == "taken over"
