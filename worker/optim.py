"""Optimizer construction and the learning-rate schedule (a pure function of the epoch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.config import Hparams


def learning_rate(epoch: int, hparams: Hparams) -> float:
    """The learning rate for `epoch` (1-based) under the run's decay schedule.

    inverse and exponential follow the deep-learning course, with epoch_num = `epoch`, so the first epoch
    already trains at a decayed rate: alpha0 / (1 + rate * epoch_num) gives 0.1, 0.067, 0.05, 0.04 for
    alpha0 = 0.2 and rate = 1; alpha0 * rate ** epoch_num gives 0.95, 0.9025, ... times alpha0 at 0.95.
    step trains the first `decay_steps` epochs at alpha0, then multiplies by the rate every `decay_steps`
    epochs (as PyTorch's StepLR does with its 0-based epoch); cosine anneals from alpha0 to 0.
    """
    if epoch < 1:
        raise ValueError(f"epoch counts from 1, but got {epoch=}")
    lr = hparams.lr
    if hparams.lr_decay == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / hparams.epochs))
    rate = hparams.effective_decay_rate()
    if rate is None:  # no decay
        return lr
    if hparams.lr_decay == "step":
        return lr * rate ** ((epoch - 1) // hparams.decay_steps)
    if hparams.lr_decay == "exponential":
        return lr * rate**epoch
    return lr / (1.0 + rate * epoch)  # inverse


def make_optimizer(
    model: nn.Module, hparams: Hparams, *, split_groups: bool | None = None
) -> torch.optim.Optimizer:
    """The optimizer the hparams name; L2 applies to weight matrices and kernels, not biases or norms.

    Without L2 the two kinds share one parameter group (unless `split_groups`): the optimizer makes a pass
    of its own over each group every step, and a second one cost 1 % of a digits epoch on CPU. The
    parameters keep their order either way, so a checkpoint of one layout resumes with the other's groups.
    """
    decayed = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    plain = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    if split_groups is None:
        split_groups = hparams.l2 > 0
    groups = (
        [{"params": decayed, "weight_decay": hparams.l2}, {"params": plain, "weight_decay": 0.0}]
        if split_groups
        else [{"params": decayed + plain, "weight_decay": 0.0}]
    )
    if hparams.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=hparams.lr)
    if hparams.optimizer == "momentum":
        return torch.optim.SGD(groups, lr=hparams.lr, momentum=hparams.beta)
    if hparams.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=hparams.lr, alpha=hparams.beta, eps=hparams.eps)
    if hparams.optimizer == "adam":
        return torch.optim.Adam(groups, lr=hparams.lr, betas=(hparams.beta1, hparams.beta2), eps=hparams.eps)
    raise ValueError(f"unknown optimizer {hparams.optimizer!r}")


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Use `lr` in every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


__all__ = ["learning_rate", "make_optimizer", "set_learning_rate"]
