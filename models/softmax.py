"""Softmax regression: a single linear layer on the flattened input."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.options import SoftmaxOptions


class Softmax(nn.Module):
    """Linear classifier; returns logits (the loss applies the softmax)."""

    def __init__(self, n_features: int, n_classes: int, keep_prob: float = 1.0) -> None:
        super().__init__()
        # Dropout on the inputs is the only place a linear model can drop anything.
        self.dropout = nn.Dropout(1.0 - keep_prob)
        self.linear = nn.Linear(n_features, n_classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (B, F)
        return self.linear(self.dropout(x))  # (B, K)


def build(
    options: SoftmaxOptions, *, input_shape: tuple[int, ...], n_classes: int, keep_prob: float = 1.0
) -> Softmax:
    """Build softmax regression for inputs of `input_shape`."""
    return Softmax(math.prod(input_shape), n_classes, keep_prob)
