"""Weight initialisation shared by the architectures: he, xavier or small, biases at zero."""

from __future__ import annotations

from typing import Literal

from torch import nn


def init_layer(layer: nn.Linear | nn.Conv2d, *, init: str, activation: str) -> None:
    """Initialise one layer's weights for the non-linearity that follows it (biases start at zero).

    he: N(0, 2/fan_in), so a rectifier's output keeps its input's second moment (He et al., 2015).
    xavier: N(0, 1/fan_avg), the Glorot & Bengio (2010) compromise between the forward and backward pass
    for tanh and sigmoid (and for the output layer, which feeds the loss rather than a non-linearity).
    small: N(0, 0.01²), the textbook example of a scale too small for a deep network.
    A convolution's fans count its kernel: fan_in = C_in * k * k.
    """
    if init == "he":
        nonlinearity: Literal["leaky_relu", "relu"] = "leaky_relu" if activation == "leaky_relu" else "relu"
        nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity)
    elif init == "xavier":
        nn.init.xavier_normal_(layer.weight)
    else:
        nn.init.normal_(layer.weight, std=0.01)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def init_output_layer(layer: nn.Linear, *, init: str) -> None:
    """The last layer feeds the loss, not a non-linearity: xavier, unless the run asks for small weights."""
    init_layer(layer, init="small" if init == "small" else "xavier", activation="linear")


__all__ = ["init_layer", "init_output_layer"]
