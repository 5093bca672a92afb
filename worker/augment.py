"""Image augmentation on whole batches: small shifts, small rotations and Gaussian noise."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_SHIFT_PIXELS = 1.0
MAX_ROTATION_DEGREES = 10.0
NOISE_STD = 0.1


def augment_images(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Randomly shift, rotate and add noise to (B, C, H, W) images; random numbers come from `generator`."""
    batch, _, height, width = x.shape
    # Draw on the generator's device (CPU) so runs repeat exactly, then move to the batch's device.
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(MAX_ROTATION_DEGREES)
    shift = (torch.rand(batch, 2, generator=generator) * 2 - 1) * MAX_SHIFT_PIXELS
    noise = torch.randn(x.shape, generator=generator) * NOISE_STD
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    # affine_grid works in [-1, 1] coordinates: one pixel is 2 / size.
    theta[:, 0, 2] = shift[:, 0] * 2 / width
    theta[:, 1, 2] = shift[:, 1] * 2 / height
    theta, noise = theta.to(x.device), noise.to(x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return moved + noise  # (B, C, H, W)


__all__ = ["augment_images"]
