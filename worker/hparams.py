"""Training hyperparameters as a frozen dataclass (torch-free), plus recommended defaults per dataset."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
LR_DECAYS = ("none", "step", "exponential", "inverse", "cosine")
#: Each schedule's own decay rate, used when `decay_rate` is None; the server's schema has the same table
#: (tests/test_hparams_contract.py holds them equal). See worker/optim.py::learning_rate for the formulas.
DEFAULT_DECAY_RATES: dict[str, float] = {"inverse": 1.0, "exponential": 0.95, "step": 0.5}


@dataclass(frozen=True)
class Hparams:
    """Every knob of one training run; the server sends them all resolved, tests may send a few."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.001
    optimizer: str = "adam"
    beta: float = 0.9  # momentum (sgd with momentum) or the squared-gradient average (rmsprop)
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    l2: float = 0.0
    keep_prob: float = 1.0
    seed: int = 0
    train_fraction: float = 1.0
    lr_decay: str = "none"
    decay_rate: float | None = None  # None: the schedule's own rate (DEFAULT_DECAY_RATES)
    decay_steps: int = 10
    early_stopping_patience: int | None = None
    grad_clip: float | None = None
    augment: bool = False
    normalize: bool = True

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (math.isfinite(self.lr) and self.lr > 0, "lr must be a positive number"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (0.0 <= self.beta < 1.0, "beta must be in [0, 1)"),
            (0.0 <= self.beta1 < 1.0, "beta1 must be in [0, 1)"),
            (0.0 <= self.beta2 < 1.0, "beta2 must be in [0, 1)"),
            (self.eps > 0, "eps must be positive"),
            (self.l2 >= 0, "l2 must be non-negative"),
            (0.0 < self.keep_prob <= 1.0, "keep_prob must be in (0, 1]"),
            (0.0 < self.train_fraction <= 1.0, "train_fraction must be in (0, 1]"),
            (self.lr_decay in LR_DECAYS, f"lr_decay must be one of {LR_DECAYS}"),
            (self.decay_rate is None or self.decay_rate >= 0, "decay_rate must be non-negative or null"),
            (self.decay_steps >= 1, "decay_steps must be at least 1"),
            (
                self.early_stopping_patience is None or self.early_stopping_patience >= 1,
                "early_stopping_patience must be at least 1 or null",
            ),
            (self.grad_clip is None or self.grad_clip > 0, "grad_clip must be positive or null"),
        ]
        for ok, message in checks:
            if not ok:
                field = message.split(" ")[0]
                raise ValueError(f"hparams.{message}, but got {field}={getattr(self, field)!r}")

    def effective_decay_rate(self) -> float | None:
        """The decay rate the schedule uses: `decay_rate`, else the schedule's own; None without decay."""
        if self.lr_decay not in DEFAULT_DECAY_RATES:
            return None
        return self.decay_rate if self.decay_rate is not None else DEFAULT_DECAY_RATES[self.lr_decay]

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Hparams:
        """Build from a config's "hparams" dict; missing keys take defaults, unknown keys are ignored."""
        values = dict(values or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            logger.info("ignoring unknown hparams: %s", ", ".join(unknown))
        return cls(**{key: value for key, value in values.items() if key in known})

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict."""
        return dataclasses.asdict(self)


#: Suggested defaults per built-in dataset (for the server's catalog); see worker/README in the report.
RECOMMENDED_HPARAMS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 30, "batch_size": 64, "lr": 0.001, "optimizer": "adam"},
    "digits-shifted": {"epochs": 30, "batch_size": 64, "lr": 0.001, "optimizer": "adam"},
    "breast_cancer": {"epochs": 30, "batch_size": 32, "lr": 0.001, "optimizer": "adam"},
    "wine": {"epochs": 40, "batch_size": 16, "lr": 0.001, "optimizer": "adam"},
}


__all__ = ["DEFAULT_DECAY_RATES", "LR_DECAYS", "OPTIMIZERS", "RECOMMENDED_HPARAMS", "Hparams"]
