"""Multi-layer perceptron with a choice of activation, initialisation and batch norm."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.options import MLPOptions

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def init_linear(layer: nn.Linear, *, init: str, activation: str) -> None:
    """Initialise one linear layer's weights (biases start at zero)."""
    if init == "he":
        nonlinearity = "leaky_relu" if activation == "leaky_relu" else "relu"
        nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity)
    elif init == "xavier":
        nn.init.xavier_normal_(layer.weight)
    else:  # "small": N(0, 0.01^2), the textbook example of a too-small scale
        nn.init.normal_(layer.weight, std=0.01)
    nn.init.zeros_(layer.bias)


class MLP(nn.Module):
    """Flatten, then [Linear -> (BatchNorm) -> activation -> Dropout] per hidden layer, then Linear."""

    def __init__(self, n_features: int, n_classes: int, options: MLPOptions, keep_prob: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for units in options.hidden:
            linear = nn.Linear(width, units)
            init_linear(linear, init=options.init, activation=options.activation)
            layers.append(linear)
            if options.batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(ACTIVATIONS[options.activation]())
            if keep_prob < 1.0:
                layers.append(nn.Dropout(1.0 - keep_prob))
            width = units
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)
        init_linear(
            self.head, init=options.init if options.init == "small" else "xavier", activation="linear"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, F)
        x = self.hidden(x)  # (B, H_last)
        return self.head(x)  # (B, K)


def build(
    options: MLPOptions, *, input_shape: tuple[int, ...], n_classes: int, keep_prob: float = 1.0
) -> MLP:
    """Build an MLP for inputs of `input_shape`."""
    return MLP(math.prod(input_shape), n_classes, options, keep_prob)
