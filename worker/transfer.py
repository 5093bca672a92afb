"""Transfer learning inside the worker: load another run's final weights into a new model, matching
tensors by name and shape, and freeze all but the last layers.

What the course's fine-tuning advice implies for batch norm: a frozen part of the network should compute
what it computed on the source task, so its batch-norm layers keep the source's running statistics and
normalise with them (eval mode) while the trainable layers learn; `hold_frozen_norms` puts them back in
eval mode after every `model.train()`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
from torch import nn

from models.config import Transfer

NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


@dataclass(frozen=True)
class TransferReport:
    """Which of the model's tensors came from the source run, which started fresh, which are frozen."""

    loaded: list[str]
    fresh: list[str]
    frozen: list[str]


def source_weights(checkpoint: bytes) -> dict[str, torch.Tensor]:
    """The final weights a run's checkpoint holds: its best epoch's when it kept them (early stopping)."""
    payload = torch.load(io.BytesIO(checkpoint), map_location="cpu", weights_only=True)
    best = (payload.get("best") or {}).get("model")
    weights: dict[str, torch.Tensor] = best if best is not None else payload["model"]
    return weights


def parametrised_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters, in the order the model registers them (input to output)."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    ]


def weight_layers(model: nn.Module) -> list[str]:
    """The names of the model's weight layers (linear, convolution, recurrent; not normalisation), in order:
    the last one is the output layer."""
    return [name for name, module in parametrised_modules(model) if not isinstance(module, NORM_LAYERS)]


def load_matching(model: nn.Module, weights: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Copy every tensor of `weights` whose name and shape match one of the model's (parameters and
    buffers such as batch-norm statistics); returns (loaded, fresh) names."""
    own = model.state_dict()
    matched = {k: v for k, v in weights.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    model.load_state_dict(matched, strict=False)
    return sorted(matched), sorted(k for k in own if k not in matched)


def freeze(model: nn.Module, transfer: Transfer) -> list[str]:
    """Turn off gradients for everything before the last trainable weight layers; returns the frozen
    parameter names. A normalisation layer trains when a weight layer before it trains."""
    layers = weight_layers(model)
    n_trainable = transfer.trainable_layers(len(layers))
    first_trainable = layers[len(layers) - n_trainable] if layers else ""
    frozen: list[str] = []
    training = False
    for name, module in parametrised_modules(model):
        training = training or name == first_trainable
        for param_name, param in module.named_parameters(recurse=False):
            param.requires_grad_(training)
            if not training:
                frozen.append(f"{name}.{param_name}" if name else param_name)
    return frozen


def hold_frozen_norms(model: nn.Module) -> None:
    """Batch-norm layers whose parameters are all frozen run in eval mode: their running statistics stay
    the source run's (a no-op for a model with no frozen layer)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def apply_transfer(model: nn.Module, transfer: Transfer, checkpoint: bytes | None) -> TransferReport:
    """Load the source's matching weights (when `checkpoint` is given: a run resuming its own checkpoint
    has them already) and freeze what `transfer.trainable` leaves out."""
    loaded, fresh = load_matching(model, source_weights(checkpoint)) if checkpoint is not None else ([], [])
    return TransferReport(loaded=loaded, fresh=fresh, frozen=freeze(model, transfer))


__all__ = [
    "TransferReport",
    "apply_transfer",
    "freeze",
    "hold_frozen_norms",
    "load_matching",
    "source_weights",
    "weight_layers",
]
