"""A small ResNet: stem convolution, residual blocks at one resolution, global average pooling."""

from __future__ import annotations

import torch
from torch import nn

from models.init import init_layer, init_output_layer
from models.options import ResNetOptions


class BasicBlock(nn.Module):
    """x + BN(conv3x3(relu(BN(conv3x3(x))))), then relu."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))  # (B, C, H, W)


class BottleneckBlock(nn.Module):
    """1x1 convolution to C/4 channels, 3x3 at C/4, 1x1 back to C: fewer multiplies than two 3x3s."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 4)
        self.body = nn.Sequential(
            nn.Conv2d(channels, inner, 1, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(),
            nn.Conv2d(inner, inner, 3, padding=1, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(),
            nn.Conv2d(inner, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))  # (B, C, H, W)


class ResNet(nn.Module):
    """stem -> blocks -> global average pool -> dropout -> linear."""

    def __init__(
        self, input_shape: tuple[int, ...], n_classes: int, options: ResNetOptions, keep_prob: float = 1.0
    ) -> None:
        super().__init__()
        c = options.channels
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        )
        block: type[nn.Module] = BottleneckBlock if options.use_1x1 else BasicBlock
        self.blocks = nn.Sequential(*(block(c) for _ in range(options.blocks)))
        self.dropout = nn.Dropout(1.0 - keep_prob)
        self.head = nn.Linear(c, n_classes)
        # Every convolution feeds a ReLU (through batch norm): He's scale, as for a relu MLP.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init_layer(module, init="he", activation="relu")
        init_output_layer(self.head, init="he")  # xavier: it feeds the loss

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))  # (B, C, H, W)
        x = x.mean(dim=(2, 3))  # (B, C)
        return self.head(self.dropout(x))  # (B, K)


def build(
    options: ResNetOptions, *, input_shape: tuple[int, ...], n_classes: int, keep_prob: float = 1.0
) -> ResNet:
    """Build a small ResNet for (C, H, W) images."""
    return ResNet(input_shape, n_classes, options, keep_prob)
