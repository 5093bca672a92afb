"""What keeps the training loop cheap: windowed divergence checks, paced checkpoints, one optimizer group."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

from models import build_model
from models.config import Hparams
from trainboard.datasets import load_splits
from worker import train as train_module
from worker.optim import make_optimizer
from worker.train import LOSS_CHECK_STEPS, Diverged, Progress, check_losses, fit, steps_per_epoch

CPU = torch.device("cpu")
MODEL = {"name": "mlp", "hidden": [32]}


class Recorder:
    """Keeps metrics and checkpoints; cancels after `cancel_after_epoch` epochs when asked."""

    def __init__(self, cancel_after_epoch: int | None = None) -> None:
        self.cancel_after_epoch = cancel_after_epoch
        self.metrics: dict[int, dict[str, float]] = {}
        self.checkpoints: dict[int, bytes] = {}

    def on_progress(self, progress: Progress) -> bool:
        return self.cancel_after_epoch is None or max(self.metrics, default=0) < self.cancel_after_epoch

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.metrics.setdefault(epoch, {}).update(metrics)

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        self.checkpoints[epoch] = data


def train(hparams: Hparams, model: torch.nn.Module | None = None, **options: Any) -> tuple[Recorder, Any]:
    splits = load_splits("digits")
    if model is None:
        torch.manual_seed(hparams.seed)
        model = build_model(MODEL, input_shape=splits.info.input_shape, n_classes=splits.info.n_classes)
    reporter = options.pop("reporter", None) or Recorder()
    result = fit(model, splits, hparams, device=CPU, reporter=reporter, progress_interval_s=1e9, **options)
    return reporter, result


def test_check_losses_names_the_first_step_that_was_not_finite() -> None:
    losses = [torch.tensor(v) for v in (2.3, 1.9, float("inf"), float("nan"))]
    with pytest.raises(Diverged, match="loss became infinite at epoch 3, step 9"):
        check_losses(losses, epoch=3, last_step=10)
    check_losses([torch.tensor(0.5)] * LOSS_CHECK_STEPS, epoch=1, last_step=LOSS_CHECK_STEPS)


@pytest.mark.parametrize("sync_free", [True, False], ids=["cpu-every-step", "accelerator-window"])
def test_divergence_stops_training_within_the_epoch(sync_free: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # The model's output turns NaN at the 5th training step of the first (68-step) epoch. On a device that
    # needs a sync to read the loss, the check waits for a window of steps; the CPU checks every step.
    if not sync_free:
        monkeypatch.setattr(train_module, "SYNC_FREE_DEVICES", ())
    hparams = Hparams(epochs=2, batch_size=16)
    splits = load_splits("digits")
    torch.manual_seed(0)
    net = build_model(MODEL, input_shape=splits.info.input_shape, n_classes=splits.info.n_classes)
    training_steps: list[int] = []

    def poison(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        if not module.training:
            return None
        training_steps.append(1)
        return output * float("nan") if len(training_steps) == 5 else None

    net.register_forward_hook(poison)
    reporter, result = train(hparams, net)
    assert result.status == "diverged" and result.epochs_run == 1
    assert "loss became NaN at epoch 1, step 5" in result.error
    stopped_after = 5 if sync_free else LOSS_CHECK_STEPS
    assert len(training_steps) == stopped_after < steps_per_epoch(len(splits.train), 16)
    assert 1 not in reporter.metrics and not reporter.checkpoints


def test_checkpoints_are_paced_but_the_first_and_final_epochs_always_saved() -> None:
    reporter, result = train(Hparams(epochs=4, batch_size=64), checkpoint_interval_s=1e9)
    assert result.status == "succeeded" and sorted(reporter.checkpoints) == [1, 4]
    reporter, _ = train(Hparams(epochs=3, batch_size=64), checkpoint_interval_s=0)
    assert sorted(reporter.checkpoints) == [1, 2, 3]


def test_runs_without_l2_share_one_parameter_group_and_with_l2_keep_two() -> None:
    net = build_model(MODEL, input_shape=(1, 8, 8), n_classes=10)
    assert len(make_optimizer(net, Hparams()).param_groups) == 1
    decayed, plain = make_optimizer(net, Hparams(l2=0.01)).param_groups
    assert decayed["weight_decay"] == 0.01 and all(p.dim() > 1 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.dim() == 1 for p in plain["params"])


def test_a_checkpoint_with_two_parameter_groups_still_resumes() -> None:
    # Checkpoints written before runs without L2 used one group split the parameters in two groups.
    hparams = Hparams(epochs=2, batch_size=64)
    full, _ = train(hparams)
    partial, stopped = train(hparams, reporter=Recorder(cancel_after_epoch=1))
    assert stopped.status == "cancelled"
    payload = torch.load(io.BytesIO(partial.checkpoints[1]), weights_only=True)
    (group,) = payload["optimizer"]["param_groups"]
    n_decayed = sum(p.dim() > 1 for p in build_model(MODEL, input_shape=(1, 8, 8), n_classes=10).parameters())
    payload["optimizer"]["param_groups"] = [
        {**group, "params": group["params"][:n_decayed]},
        {**group, "params": group["params"][n_decayed:]},
    ]
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    resumed, result = train(hparams, checkpoint=buffer.getvalue())
    assert result.status == "succeeded" and resumed.metrics[2] == full.metrics[2]
