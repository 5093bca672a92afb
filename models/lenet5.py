"""LeNet-5 style CNN, sized from the input so it also fits 8x8 digits."""

from __future__ import annotations

import torch
from torch import nn

from models.init import init_layer, init_output_layer
from models.options import LeNet5Options, resolved_init


class ConvStage(nn.Module):
    """5x5 'same' convolution -> (BatchNorm) -> activation -> 2x2 pooling (halves H and W)."""

    def __init__(self, c_in: int, c_out: int, options: LeNet5Options) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=5, padding=2)
        init_layer(
            self.conv, init=resolved_init(options.init, options.activation), activation=options.activation
        )
        self.norm = nn.BatchNorm2d(c_out) if options.batch_norm else nn.Identity()
        self.act = nn.ReLU() if options.activation == "relu" else nn.Tanh()
        self.pool = nn.MaxPool2d(2) if options.pool == "max" else nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.norm(self.conv(x))))  # (B, C_out, H/2, W/2)


class LeNet5(nn.Module):
    """conv(6) -> pool -> conv(16) -> pool -> fc 120 -> fc 84 -> fc K."""

    def __init__(
        self, input_shape: tuple[int, ...], n_classes: int, options: LeNet5Options, keep_prob: float = 1.0
    ) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.features = nn.Sequential(ConvStage(channels, 6, options), ConvStage(6, 16, options))
        act: type[nn.Module] = nn.ReLU if options.activation == "relu" else nn.Tanh
        self.classifier = nn.Sequential(
            nn.Linear(16 * (height // 4) * (width // 4), 120),
            act(),
            nn.Dropout(1.0 - keep_prob),
            nn.Linear(120, 84),
            act(),
            nn.Dropout(1.0 - keep_prob),
            nn.Linear(84, n_classes),
        )
        init = resolved_init(options.init, options.activation)
        *hidden, head = [m for m in self.classifier if isinstance(m, nn.Linear)]
        for linear in hidden:
            init_layer(linear, init=init, activation=options.activation)
        init_output_layer(head, init=init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 16, H/4, W/4)
        return self.classifier(x.flatten(1))  # (B, K)


def build(
    options: LeNet5Options, *, input_shape: tuple[int, ...], n_classes: int, keep_prob: float = 1.0
) -> LeNet5:
    """Build LeNet-5 for (C, H, W) images."""
    return LeNet5(input_shape, n_classes, options, keep_prob)
