"""Mixed precision: the autocast dtype and gradient scaler a run's `precision` asks for on a device.

The weights, the optimizer state, evaluation and predictions stay in fp32; only the training step's forward
and backward passes run under `torch.autocast` (bf16 on CPU or CUDA; fp16 on CUDA, with a GradScaler so
small gradients do not underflow). A device that cannot do what was asked is refused, never quietly fp32.
A checkpoint does not carry the scaler's state: a resumed fp16 run starts again from the default scale and
may skip its first few steps while the scaler finds its level, as on the first start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from models.config import precision_refusal

AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionUnsupported(ValueError):
    """The run's precision cannot train on this worker's device (the message becomes the run's error)."""


@dataclass(frozen=True)
class MixedPrecision:
    """How one run's training steps compute: `name` is what it trains with ("fp32", "bf16" or "fp16")."""

    name: str
    device_type: str
    dtype: torch.dtype | None = None  # None: plain fp32, no autocast
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """The context the forward pass and loss run in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def backward_and_step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        parameters: Iterable[nn.Parameter],
        grad_clip: float | None,
    ) -> None:
        """Backpropagate `loss`, clip the gradient norm to `grad_clip` (unscaled first) and step."""
        if self.scaler is None:
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(parameters, grad_clip)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if grad_clip is not None:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(parameters, grad_clip)
        self.scaler.step(optimizer)  # skips the step when a gradient overflowed, then lowers the scale
        self.scaler.update()


FP32 = MixedPrecision("fp32", "cpu")


def mixed_precision(precision: str, device: torch.device) -> MixedPrecision:
    """What `precision` ("fp32", "bf16", "fp16") means on `device`; PrecisionUnsupported when it cannot."""
    if precision == "fp32":
        return MixedPrecision("fp32", device.type)
    if refusal := precision_refusal(precision, str(device)):
        raise PrecisionUnsupported(refusal)
    if device.type not in ("cpu", "cuda"):
        raise PrecisionUnsupported(f"{precision} is trained on CPU or CUDA only, but the device is {device}")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise PrecisionUnsupported(f"{name} has no bfloat16 arithmetic: choose fp16 or fp32")
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    return MixedPrecision(precision, device.type, AUTOCAST_DTYPES[precision], scaler)


__all__ = ["FP32", "MixedPrecision", "PrecisionUnsupported", "mixed_precision"]
