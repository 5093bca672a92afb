"""Recurrent classifier: reads an image row by row, or a (T, F) sequence, and classifies the last state."""

from __future__ import annotations

import torch
from torch import nn

from models.options import GRUOptions


class RecurrentClassifier(nn.Module):
    """GRU/LSTM over time steps; the last step's output goes through dropout and a linear layer."""

    def __init__(
        self, input_shape: tuple[int, ...], n_classes: int, options: GRUOptions, keep_prob: float = 1.0
    ) -> None:
        super().__init__()
        # An image (C, H, W) is H time steps of C*W features; a sequence (T, F) is used as is.
        n_features = input_shape[0] * input_shape[2] if len(input_shape) == 3 else input_shape[-1]
        rnn: type[nn.GRU] | type[nn.LSTM] = nn.GRU if options.cell == "gru" else nn.LSTM
        self.rnn = rnn(
            n_features,
            options.hidden,
            num_layers=options.layers,
            batch_first=True,
            dropout=(1.0 - keep_prob) if options.layers > 1 else 0.0,
            bidirectional=options.bidirectional,
        )
        self.dropout = nn.Dropout(1.0 - keep_prob)
        self.head = nn.Linear(options.hidden * (2 if options.bidirectional else 1), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.permute(0, 2, 1, 3).flatten(2)  # (B, C, H, W) -> (B, H, C*W)
        out, _ = self.rnn(x)  # (B, T, H*D)
        return self.head(self.dropout(out[:, -1]))  # (B, K)


def build(
    options: GRUOptions, *, input_shape: tuple[int, ...], n_classes: int, keep_prob: float = 1.0
) -> RecurrentClassifier:
    """Build a GRU/LSTM classifier."""
    return RecurrentClassifier(input_shape, n_classes, options, keep_prob)
