"""Training checkpoints: a plain dict (model, optimizer, epoch, best, RNG states) as torch.save bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import torch

CHECKPOINT_VERSION = 1


@dataclass
class TrainState:
    """What the loop carries between epochs besides the model and optimizer."""

    epoch: int = 0
    step: int = 0
    best_epoch: int | None = None
    best_dev_error: float = float("inf")
    best_model: dict[str, torch.Tensor] | None = None
    epochs_since_best: int = 0
    last_metrics: dict[str, float] = field(default_factory=dict)


def rng_states(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Every random state a resumed run needs to continue exactly."""
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    states.update({name: gen.get_state() for name, gen in generators.items()})
    return states


def restore_rng_states(states: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    """Put back what `rng_states` saved (CUDA states only when CUDA is present)."""
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    for name, gen in generators.items():
        gen.set_state(states[name])


def _copied(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copied(v) for v in value)
    return value


def checkpoint_payload(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    generators: dict[str, torch.Generator],
) -> dict[str, Any]:
    """The training state after an epoch as a dict of copied tensors: training may go on while it is saved."""
    return _copied(
        {
            "version": CHECKPOINT_VERSION,
            "epoch": state.epoch,
            "step": state.step,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "best": {
                "epoch": state.best_epoch,
                "dev_error": state.best_dev_error,
                "model": state.best_model,
                "epochs_since_best": state.epochs_since_best,
            },
            "last_metrics": dict(state.last_metrics),
            "rng": rng_states(generators),
        }
    )


def serialize_checkpoint(payload: dict[str, Any]) -> bytes:
    """torch.save bytes of a `checkpoint_payload`."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_checkpoint(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    generators: dict[str, torch.Generator],
) -> bytes:
    """Serialise the training state after an epoch to bytes."""
    payload = checkpoint_payload(model=model, optimizer=optimizer, state=state, generators=generators)
    return serialize_checkpoint(payload)


def load_checkpoint(
    data: bytes,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generators: dict[str, torch.Generator],
) -> TrainState:
    """Restore model, optimizer and RNGs from checkpoint bytes in place; returns the loop state."""
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"unsupported checkpoint version {payload.get('version')!r}")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    restore_rng_states(payload["rng"], generators)
    best = payload["best"]
    return TrainState(
        epoch=payload["epoch"],
        step=payload["step"],
        best_epoch=best["epoch"],
        best_dev_error=best["dev_error"],
        best_model=best["model"],
        epochs_since_best=best["epochs_since_best"],
        last_metrics=dict(payload["last_metrics"]),
    )


__all__ = [
    "TrainState",
    "checkpoint_payload",
    "load_checkpoint",
    "save_checkpoint",
    "serialize_checkpoint",
]
