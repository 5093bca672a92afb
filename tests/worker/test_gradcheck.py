"""Gradient checking: a correct backward pass reads ~1e-7 or less, a wrong one far above 1e-3."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

from models import build_model
from server.services import gradcheck as gradcheck_service
from trainboard.client import Client
from worker.gradcheck import gradient_check, run_check


class HalvedGradient(torch.autograd.Function):
    """tanh whose backward forgets half of the derivative: the kind of bug gradient checking finds."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def, override]
        out = torch.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def, override]
        (out,) = ctx.saved_tensors
        return grad * (1 - out**2) * 0.5


class BrokenNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden, self.out = nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(HalvedGradient.apply(self.hidden(x)))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(4, 6, generator=generator), torch.tensor([0, 1, 2, 1])


@pytest.mark.parametrize(
    "config",
    [
        {"name": "mlp", "hidden": [8, 8], "activation": "tanh", "batch_norm": True},
        {"name": "softmax"},
        {"name": "mlp", "hidden": [8], "activation": "sigmoid"},
    ],
)
def test_correct_model_passes(config: dict) -> None:  # type: ignore[type-arg]
    torch.manual_seed(0)
    model = build_model(config, input_shape=(6,), n_classes=3)
    results = gradient_check(model, *batch())
    names = [name for name, _ in results]
    assert names == [name for name, _ in model.named_parameters()]
    assert max(diff for _, diff in results) < 1e-6


def test_wrong_backward_fails() -> None:
    torch.manual_seed(0)
    results = dict(gradient_check(BrokenNet(), *batch()))
    assert results["out.weight"] < 1e-6  # the layer after the bug still gets the right gradient
    assert results["hidden.weight"] > 1e-3
    assert results["hidden.bias"] > 1e-3


def test_large_tensors_are_sampled_and_images_work() -> None:
    torch.manual_seed(0)
    model = build_model({"name": "lenet5"}, input_shape=(1, 8, 8), n_classes=10)
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([3, 7])
    assert max(diff for _, diff in gradient_check(model, x, y, max_entries=16)) < 1e-5


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, check_id: str) -> bool:
        self.sent.append(check_id)
        return True


def test_gradcheck_endpoint_round_trip(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    queue = RecordingQueue()
    app.dependency_overrides[gradcheck_service.get_gradcheck_queue] = lambda: queue
    body = {"dataset": "wine", "config": {"model": {"name": "mlp", "hidden": [4]}}}
    created = client.post("/api/v1/gradcheck", json=body)
    assert created.status_code == 202, created.text
    check = created.json()
    assert (check["status"], queue.sent) == ("queued", [check["id"]])

    api = Client(server_url="http://testserver", token="", transport=client._transport)
    assert run_check(api, check["id"]) == "done"
    done = client.get(f"/api/v1/gradcheck/{check['id']}").json()
    assert done["status"] == "done"
    assert len(done["parameters"]) == 4
    assert {p["reading"] for p in done["parameters"]} == {"great"}
    assert done["max_relative_difference"] < 1e-6
    assert done["reading"] == "great"


@pytest.mark.parametrize(
    ("body", "loc", "fragment"),
    [
        ({"config": {}}, ["body"], "exactly one of 'project_id' or 'dataset'"),
        ({"dataset": "wine", "project_id": 1}, ["body"], "exactly one"),
        ({"dataset": "imagenet"}, ["body", "dataset"], "no data a worker can load"),
        ({"project_id": 9999}, ["body", "project_id"], "Project 9999 not found"),
        (
            {"dataset": "wine", "config": {"model": {"name": "lenet5"}}},
            ["body", "config", "model", "name"],
            "image",
        ),
        ({"dataset": "wine", "batch_size": 0}, ["body", "batch_size"], "greater than or equal to 1"),
    ],
)
def test_gradcheck_refuses_bad_input(client: TestClient, body: dict, loc: list, fragment: str) -> None:  # type: ignore[type-arg]
    response = client.post("/api/v1/gradcheck", json=body)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == loc and fragment in error["msg"]


def test_unknown_gradcheck_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/gradcheck/not-a-uuid").status_code == 404
    response = client.get("/api/v1/gradcheck/6f1c1d4e-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json()["detail"] == "Gradient check 6f1c1d4e-0000-4000-8000-000000000000 not found"
