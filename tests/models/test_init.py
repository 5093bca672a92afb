"""Default init: Xavier (Var 1/fan_avg) with tanh and sigmoid, He (Var 2/fan_in) with relu."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models import build_model, resolve_model_config

#: A sample variance of n draws has a relative standard error of sqrt(2/n); allow five of them.
STANDARD_ERRORS = 5


def fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = math.prod(weight.shape[2:])  # 1 for a linear layer, k*k for a convolution
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def expected_variance(init: str, weight: torch.Tensor) -> float:
    fan_in, fan_out = fans(weight)
    return 2 / fan_in if init == "he" else 1 / ((fan_in + fan_out) / 2)


def hidden_layers(model: nn.Module) -> list[torch.Tensor]:
    """Weights of the layers that feed a non-linearity (all but the last linear layer)."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    return weights[:-1]


def assert_variance(weight: torch.Tensor, expected: float) -> None:
    tolerance = STANDARD_ERRORS * math.sqrt(2 / weight.numel())
    measured = weight.detach().pow(2).mean().item()  # the mean is 0, so this is the variance
    assert measured == pytest.approx(expected, rel=tolerance), f"{tuple(weight.shape)}"


@pytest.mark.parametrize(
    ("config", "input_shape", "init"),
    [
        ({"name": "mlp", "hidden": [256, 256], "activation": "tanh"}, (512,), "xavier"),
        ({"name": "mlp", "hidden": [256, 256], "activation": "sigmoid"}, (512,), "xavier"),
        ({"name": "mlp", "hidden": [256, 256], "activation": "relu"}, (512,), "he"),
        ({"name": "mlp", "hidden": [256, 256], "activation": "leaky_relu"}, (512,), "he"),
        ({"name": "lenet5", "activation": "tanh"}, (1, 28, 28), "xavier"),
        ({"name": "lenet5", "activation": "relu"}, (1, 28, 28), "he"),
        ({"name": "resnet", "channels": 32, "blocks": 1}, (1, 8, 8), "he"),
    ],
)
def test_default_init_suits_the_activation(config: dict, input_shape: tuple[int, ...], init: str) -> None:  # type: ignore[type-arg]
    torch.manual_seed(0)
    model = build_model(config, input_shape=input_shape, n_classes=10)
    checked = 0
    for weight in hidden_layers(model):
        if weight.numel() >= 1000:  # smaller layers cannot tell the two scales apart reliably
            assert_variance(weight, expected_variance(init, weight))
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_explicit_init_is_kept(activation: str) -> None:
    other = "he" if activation == "tanh" else "xavier"
    torch.manual_seed(0)
    model = build_model(
        {"name": "mlp", "hidden": [256], "activation": activation, "init": other},
        input_shape=(512,),
        n_classes=10,
    )
    (weight,) = hidden_layers(model)
    assert_variance(weight, expected_variance(other, weight))


def test_output_layer_is_xavier_and_biases_start_at_zero() -> None:
    torch.manual_seed(0)
    model = build_model(
        {"name": "mlp", "hidden": [512], "activation": "relu"}, input_shape=(64,), n_classes=256
    )
    assert_variance(model.head.weight, expected_variance("xavier", model.head.weight))
    assert all(not m.bias.any() for m in model.modules() if isinstance(m, nn.Linear))


def test_a_blank_init_stays_blank_in_the_resolved_config() -> None:
    """Blank means "the one that suits the activation", so a clone that changes the activation follows it."""
    config = resolve_model_config(
        {"name": "mlp", "activation": "tanh"}, kind="tabular", input_shape=(4,), n_classes=2
    )
    assert config["init"] is None
    given = resolve_model_config(
        {"name": "mlp", "init": "small"}, kind="tabular", input_shape=(4,), n_classes=2
    )
    assert given["init"] == "small"
