"""Gradient checking: a correct backward pass reads ~1e-7 or less, a wrong one far above 1e-3."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

from models import build_model
from server.api.deps import current_queue
from trainboard.client import Client
from worker.gradcheck import TensorCheck, gradient_check, run_check


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


def worst(results: list[TensorCheck]) -> dict[str, float]:
    """Each tensor's relative difference (every test model here has at least one checked entry per tensor)."""
    assert all(check.relative_difference is not None for check in results)
    return {check.name: check.relative_difference for check in results}  # type: ignore[misc]


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
    names = [check.name for check in results]
    assert names == [name for name, _ in model.named_parameters()]
    assert max(worst(results).values()) < 1e-6


def test_wrong_backward_fails() -> None:
    torch.manual_seed(0)
    results = worst(gradient_check(BrokenNet(), *batch()))
    assert results["out.weight"] < 1e-6  # the layer after the bug still gets the right gradient
    assert results["hidden.weight"] > 1e-3
    assert results["hidden.bias"] > 1e-3


def test_large_tensors_are_sampled_and_images_work() -> None:
    torch.manual_seed(0)
    model = build_model({"name": "lenet5"}, input_shape=(1, 8, 8), n_classes=10)
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([3, 7])
    results = gradient_check(model, x, y, max_entries=16)
    assert max(worst(results).values()) < 1e-5
    # Up to 16 entries per tensor: all 6 of the first convolution's biases, 16 of its 150 weights.
    assert [(c.name, c.size, c.checked, c.skipped) for c in results[:2]] == [
        ("features.0.conv.weight", 150, 16, 0),
        ("features.0.conv.bias", 6, 6, 0),
    ]


class MaskForgottenReLU(torch.autograd.Function):
    """ReLU whose backward forgets the mask (passes the gradient where the input was negative too)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def, override]
        return torch.relu(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def, override]
        return grad


class BrokenReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return MaskForgottenReLU.apply(x)  # type: ignore[no-any-return]


def digits_on_black(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Four images with strokes in the middle and a black margin, as in MNIST: with zero biases, the
    first layer's pre-activations there are exactly 0, on a ReLU's kink."""
    generator = torch.Generator().manual_seed(0)
    x = torch.zeros(4, 1, size, size)
    x[:, :, 2:6, 2:6] = torch.rand(4, 1, 4, 4, generator=generator)
    return x, torch.tensor([0, 3, 7, 9])


KINKED = [
    ({"name": "lenet5"}, 16, "features.0.act"),
    ({"name": "resnet", "blocks": 1, "channels": 4}, 8, "stem.2"),
    ({"name": "resnet", "blocks": 1, "channels": 4, "use_1x1": True}, 8, "stem.2"),
]


@pytest.mark.parametrize(("config", "size", "relu"), KINKED)
def test_correct_relu_and_max_pool_models_pass_with_kinks_left_out(
    config: dict, size: int, relu: str
) -> None:  # type: ignore[type-arg]
    torch.manual_seed(0)
    model = build_model(config, input_shape=(1, size, size), n_classes=10)
    results = gradient_check(model, *digits_on_black(size), max_entries=16)
    # Before kinks were detected, these read 0.16 to 1.0 ("a bug") on the biases before a ReLU.
    checked = [c.relative_difference for c in results if c.relative_difference is not None]
    assert max(checked) < 1e-5
    assert sum(c.skipped for c in results) > 0
    assert sum(c.checked for c in results) > 0.8 * sum(min(16, c.size) for c in results)


@pytest.mark.parametrize(("config", "size", "relu"), KINKED)
def test_a_wrong_backward_is_still_caught_in_relu_models(config: dict, size: int, relu: str) -> None:  # type: ignore[type-arg]
    torch.manual_seed(0)
    model = build_model(config, input_shape=(1, size, size), n_classes=10)
    model.set_submodule(relu, BrokenReLU())
    results = {c.name: c for c in gradient_check(model, *digits_on_black(size), max_entries=16)}
    first_weight = next(iter(results.values()))
    assert first_weight.checked > 0 and first_weight.relative_difference > 1e-3  # type: ignore[operator]
    last = results["classifier.6.weight" if config["name"] == "lenet5" else "head.weight"]
    assert last.relative_difference < 1e-6  # type: ignore[operator]  # the layers after the bug are right


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def enqueue_gradcheck(self, check_id: str) -> bool:
        self.sent.append(check_id)
        return True


def test_gradcheck_endpoint_round_trip(client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    queue = RecordingQueue()
    app.dependency_overrides[current_queue] = lambda: queue
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
    # wine's MLP, 13 -> 4 -> 3: 56 + 4 + 12 + 3 entries, all checked (no input lands on a kink)
    assert [(p["size"], p["checked"], p["skipped"]) for p in done["parameters"]] == [
        (52, 52, 0),
        (4, 4, 0),
        (12, 12, 0),
        (3, 3, 0),
    ]
    assert (
        done["measured"]
        == "Checked 71 of 71 parameters; none skipped: no step crossed a ReLU or max-pool kink."
    )


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
