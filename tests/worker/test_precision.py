"""Mixed precision happens: a bf16 run's training steps compute in bfloat16 and learn, and the run says
what it trained with; a precision the worker's device cannot do fails the run with the reason, never fp32."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from models import build_model
from models.config import Hparams
from trainboard.client import Client
from trainboard.datasets import load_splits
from worker import runner
from worker.precision import PrecisionUnsupported, mixed_precision
from worker.train import evaluate, fit, to_device

CPU = torch.device("cpu")
MODEL = {"name": "mlp", "hidden": [32]}


class Quiet:
    def on_progress(self, progress: object) -> bool:
        return True

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        pass


def test_a_bf16_run_trains_in_bfloat16_on_cpu_and_learns() -> None:
    splits = load_splits("wine")
    torch.manual_seed(0)
    model = build_model(MODEL, input_shape=splits.info.input_shape, n_classes=splits.info.n_classes)
    first_layer = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    dtypes: dict[bool, set[torch.dtype]] = {True: set(), False: set()}  # by model.training
    first_layer.register_forward_hook(lambda module, _, out: dtypes[module.training].add(out.dtype))
    train = to_device(splits.train, CPU)
    _, loss_before = evaluate(model, train)

    result = fit(
        model,
        splits,
        Hparams(epochs=8, batch_size=16, lr=0.01, precision="bf16"),
        device=CPU,
        reporter=Quiet(),
    )

    _, loss_after = evaluate(model, train)
    assert result.status == "succeeded"
    assert dtypes[True] == {torch.bfloat16}  # every training step's forward pass ran under autocast
    assert dtypes[False] == {torch.float32}  # evaluation stays in fp32, on fp32 weights
    assert next(model.parameters()).dtype == torch.float32
    assert loss_after < 0.5 * loss_before


def test_fp16_without_cuda_is_refused_before_training() -> None:
    with pytest.raises(PrecisionUnsupported, match="fp16 trains only on a CUDA device"):
        mixed_precision("fp16", CPU)
    assert mixed_precision("fp32", CPU).dtype is None and mixed_precision("bf16", CPU).scaler is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp16_on_cuda_trains_with_a_gradient_scaler() -> None:
    cuda = torch.device("cuda")
    precision = mixed_precision("fp16", cuda)
    assert precision.dtype == torch.float16 and precision.scaler is not None
    splits = load_splits("wine")
    torch.manual_seed(0)
    model = build_model(MODEL, input_shape=splits.info.input_shape, n_classes=splits.info.n_classes)
    seen: set[torch.dtype] = set()
    model.register_forward_hook(lambda module, _, out: seen.add(out.dtype) if module.training else None)
    hparams = Hparams(epochs=8, batch_size=16, lr=0.01, precision="fp16", grad_clip=1.0)
    result = fit(model, splits, hparams, device=cuda, reporter=Quiet())
    assert result.status == "succeeded" and seen == {torch.float16}
    assert result.metrics["train_error"] < 0.2


def worker_client(client: TestClient) -> Client:
    return Client("http://testserver", token="", transport=client._transport, sleep=lambda _: None)


def queue_run(client: TestClient, precision: str) -> int:
    project = client.post("/api/v1/projects", json={"name": f"amp-{precision}", "dataset": "wine"}).json()
    config = {"model": MODEL, "hparams": {"epochs": 2, "batch_size": 32, "precision": precision}}
    response = client.post("/api/v1/runs", json={"project_id": project["id"], "config": config})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_the_run_says_it_trained_in_bf16(client: TestClient) -> None:
    run_id = queue_run(client, "bf16")
    assert runner.execute(run_id, client=worker_client(client), device_setting="cpu") == "succeeded"
    environment = client.get(f"/api/v1/runs/{run_id}").json()["environment"]
    assert environment["precision"] == "bf16" and environment["device"] == "cpu"
    assert environment["torch"] == torch.__version__ and environment["host"]


def test_an_fp16_run_on_a_cpu_worker_fails_saying_why(client: TestClient) -> None:
    run_id = queue_run(
        client, "fp16"
    )  # TRAINBOARD_DEVICE is auto: the server cannot know the worker's device
    assert runner.execute(run_id, client=worker_client(client), device_setting="cpu") == "failed"
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert run["error"].startswith(
        "fp16 trains only on a CUDA device (with a gradient scaler), but the worker's"
    )
    assert "precision" not in run["environment"]  # it trained in nothing
    assert run["summary"] == {}  # not one step trained
