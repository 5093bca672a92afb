"""Multi-layer perceptron with a choice of activation, initialisation and batch norm."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.init import init_layer, init_output_layer
from models.options import MLPOptions, resolved_init

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


class MLP(nn.Module):
    """Flatten, then [Linear -> (BatchNorm) -> activation -> Dropout] per hidden layer, then Linear."""

    def __init__(self, n_features: int, n_classes: int, options: MLPOptions, keep_prob: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        init = resolved_init(options.init, options.activation)
        width = n_features
        for units in options.hidden:
            linear = nn.Linear(width, units)
            init_layer(linear, init=init, activation=options.activation)
            layers.append(linear)
            if options.batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(ACTIVATIONS[options.activation]())
            if keep_prob < 1.0:
                layers.append(nn.Dropout(1.0 - keep_prob))
            width = units
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)
        init_output_layer(self.head, init=init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, F)
        x = self.hidden(x)  # (B, H_last)
        return self.head(x)  # (B, K)


def build(
    options: MLPOptions, *, input_shape: tuple[int, ...], n_classes: int, keep_prob: float = 1.0
) -> MLP:
    """Build an MLP for inputs of `input_shape`."""
    return MLP(math.prod(input_shape), n_classes, options, keep_prob)
