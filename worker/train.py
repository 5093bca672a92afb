"""The training loop as plain functions: no HTTP, no Celery; results go to a `Reporter` callback."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.config import Hparams
from trainboard.datasets import Split, Splits
from trainboard.metric_keys import SIZE_KEYS
from worker.augment import augment_images
from worker.checkpoint import TrainState, checkpoint_payload, load_checkpoint
from worker.checkpoint_saver import CheckpointSaver
from worker.optim import learning_rate, make_optimizer, set_learning_rate
from worker.pacing import Pacer, Progress
from worker.precision import FP32, MixedPrecision, mixed_precision
from worker.transfer import hold_frozen_norms

logger = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 4096
#: Training steps between checks of the loss for NaN or infinity on an accelerator (one sync per check).
LOSS_CHECK_STEPS = 16
#: Devices whose loss `.item()` reads without a sync (0.1 us): there each step's loss is checked at once.
SYNC_FREE_DEVICES = ("cpu",)


class Reporter(Protocol):
    """Where `fit` sends what it learns; the worker posts it to the server, tests record it."""

    def on_progress(self, progress: Progress) -> bool:
        """Report progress; return False when the run was cancelled and training must stop."""
        ...

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Metrics for `epoch` (step 0 carries one-off figures such as param_count)."""
        ...

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        """Checkpoint bytes after `epoch`, from which `fit` can resume."""
        ...


@dataclass(frozen=True)
class FitResult:
    """How training ended: status is "succeeded", "diverged" or "cancelled"."""

    status: str
    error: str | None
    epochs_run: int
    best_epoch: int | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class TensorSplit:
    """A split moved to the device once; batches are cut by index."""

    x: torch.Tensor
    y: torch.Tensor
    ids: np.ndarray


class Diverged(Exception):
    """The loss stopped being a finite number."""


def resolve_device(setting: str = "auto") -> torch.device:
    """The torch device a "device" setting names: auto means CUDA when present, else CPU."""
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(setting)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {setting!r} was asked for, but CUDA is not available")
        torch.backends.cudnn.benchmark = True
    return device


def set_seed(seed: int) -> None:
    """Seed torch's generators (call before building the model so its initial weights repeat)."""
    torch.manual_seed(seed)


def to_device(split: Split, device: torch.device) -> TensorSplit:
    """Copy a numpy split to `device` whole (the datasets are small)."""
    return TensorSplit(torch.from_numpy(split.x).to(device), torch.from_numpy(split.y).to(device), split.ids)


def diverged_message(value: float, *, epoch: int, step: int) -> str:
    """The one-line reason shown for a diverged run."""
    what = "NaN" if math.isnan(value) else "infinite"
    return f"loss became {what} at epoch {epoch}, step {step}: try a lower learning rate or gradient clipping"


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch (a trailing batch of one example is skipped, unless every batch is one
    example: batch_size 1 is stochastic gradient descent)."""
    full, rest = divmod(n_examples, batch_size)
    return max(1, full + (1 if rest > 1 or (rest == 1 and n_examples == 1) else 0))


def check_losses(losses: list[torch.Tensor], *, epoch: int, last_step: int) -> None:
    """Raise Diverged naming the first step of the window `losses` whose loss is not finite.

    The window's losses stay on the device until here, so checking costs one sync per window instead of a
    `loss.item()` per step (on a GPU that sync stalls the queue of kernels every step).
    """
    if not losses:
        return
    finite = torch.isfinite(torch.stack(losses))  # (W,)
    if bool(finite.all()):
        return
    first = int((~finite).nonzero()[0, 0])
    value = float(losses[first])
    raise Diverged(diverged_message(value, epoch=epoch, step=last_step - len(losses) + 1 + first))


def train_one_epoch(
    model: nn.Module,
    data: TensorSplit,
    optimizer: torch.optim.Optimizer,
    *,
    hparams: Hparams,
    epoch: int,
    first_step: int,
    shuffle: torch.Generator,
    augment: torch.Generator,
    on_step: Callable[[int, int], bool],
    precision: MixedPrecision = FP32,
) -> bool:
    """One pass over `data` in shuffled mini-batches; returns False when `on_step(step, n)` asked to stop.
    The forward and backward passes run in `precision` (autocast and, for fp16, a gradient scaler).

    Raises Diverged when a mini-batch loss is not finite, naming the first such step: on the CPU at that
    step, on an accelerator within `LOSS_CHECK_STEPS` steps (and by the end of the epoch).
    """
    model.train()
    hold_frozen_norms(model)  # a fine-tuned run's frozen batch norms keep the source's statistics
    n, batch_size = len(data.y), hparams.batch_size
    order = torch.randperm(n, generator=shuffle).to(data.x.device)
    augmenting = hparams.augment and data.x.dim() == 4
    sync_free = data.x.device.type in SYNC_FREE_DEVICES
    step = first_step
    losses: list[torch.Tensor] = []  # losses since the last check, on the device
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        if size == 1 and n > 1 and batch_size > 1:
            continue  # a lone trailing example breaks batch norm and adds only noise
        index = order[start : start + batch_size]
        x, y = data.x[index], data.y[index]
        if augmenting:
            x = augment_images(x, augment)
        with precision.autocast():
            loss = batch_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        precision.backward_and_step(loss, optimizer, model.parameters(), hparams.grad_clip)
        step += 1
        if sync_free:
            value = loss.item()
            if not math.isfinite(value):
                raise Diverged(diverged_message(value, epoch=epoch, step=step))
        else:
            losses.append(loss.detach())
            if len(losses) == LOSS_CHECK_STEPS:
                check_losses(losses, epoch=epoch, last_step=step)
                losses.clear()
        if not on_step(step, size):
            return False
    check_losses(losses, epoch=epoch, last_step=step)
    return True


def batch_loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for one class label per example, (B,). For multi-task labels, (B, K) in {0, 1, -1}:
    the course's loss, each task's logistic loss summed over the entries that have a label (a missing one,
    -1, adds nothing), averaged over the B examples ("sum": not averaged)."""
    if y.dim() == 1:
        return F.cross_entropy(logits, y, reduction=reduction)
    labelled = y >= 0
    total = F.binary_cross_entropy_with_logits(
        logits[labelled], y[labelled].to(logits.dtype), reduction="sum"
    )
    return total if reduction == "sum" else total / max(1, y.shape[0])


def _wrong(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-entry mistakes: (B,) for class labels; (B, K) for multi-task labels (0 where unlabelled)."""
    if y.dim() == 1:
        return logits.argmax(dim=1) != y
    return (y >= 0) & ((logits > 0).long() != y)


@torch.no_grad()
def task_counts(model: nn.Module, data: TensorSplit) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mistakes and labelled entries per task, (K,) each (one "task" for class labels), and the summed
    loss of `model` on `data`, in eval mode."""
    was_training = model.training
    model.eval()
    width = data.y.shape[1] if data.y.dim() == 2 else 1
    wrong, labelled = torch.zeros(width, dtype=torch.long), torch.zeros(width, dtype=torch.long)
    total_loss = 0.0
    for start in range(0, len(data.y), EVAL_BATCH_SIZE):
        x, y = data.x[start : start + EVAL_BATCH_SIZE], data.y[start : start + EVAL_BATCH_SIZE]
        logits = model(x)  # (B, K)
        total_loss += batch_loss(logits, y, reduction="sum").item()
        mistakes = _wrong(logits, y).reshape(len(y), -1)  # (B, K) or (B, 1)
        wrong += mistakes.sum(dim=0).cpu()
        labelled += (y >= 0).reshape(len(y), -1).sum(dim=0).cpu()
    model.train(was_training)
    return wrong, labelled, total_loss


def evaluate(model: nn.Module, data: TensorSplit) -> tuple[float, float]:
    """(error rate, mean loss per example) of `model` on `data`, in eval mode. A multi-task error is the
    share of labelled entries (over all tasks) that the model gets wrong."""
    wrong, labelled, total_loss = task_counts(model, data)
    return int(wrong.sum()) / max(1, int(labelled.sum())), total_loss / max(1, len(data.y))


@torch.no_grad()
def predict(model: nn.Module, data: TensorSplit) -> list[dict[str, Any]]:
    """Per-example predictions: label, predicted, confidence (max softmax) and cross-entropy loss."""
    was_training = model.training
    model.eval()
    rows: list[dict[str, Any]] = []
    for start in range(0, len(data.y), EVAL_BATCH_SIZE):
        x, y = data.x[start : start + EVAL_BATCH_SIZE], data.y[start : start + EVAL_BATCH_SIZE]
        logits = model(x)  # (B, K)
        losses = F.cross_entropy(logits, y, reduction="none").tolist()
        confidence, predicted = F.softmax(logits, dim=1).max(dim=1)
        for i, (label, guess, conf, loss) in enumerate(
            zip(y.tolist(), predicted.tolist(), confidence.tolist(), losses, strict=True)
        ):
            rows.append(
                {
                    "example_id": str(data.ids[start + i]),
                    "label": label,
                    "predicted": guess,
                    "confidence": conf if math.isfinite(conf) else None,
                    "loss": loss if math.isfinite(loss) else None,
                }
            )
    model.train(was_training)
    return rows


@torch.no_grad()
def predict_tasks(model: nn.Module, data: TensorSplit, tasks: tuple[str, ...]) -> list[dict[str, Any]]:
    """A multi-task model's per-entry predictions: one row per (example, task) whose label is known (a -1
    is no label, so no prediction), with the task, label and predicted (1 or 0), confidence (the
    predicted answer's sigmoid probability) and logistic loss."""
    was_training = model.training
    model.eval()
    rows: list[dict[str, Any]] = []
    for start in range(0, len(data.y), EVAL_BATCH_SIZE):
        x, y = data.x[start : start + EVAL_BATCH_SIZE], data.y[start : start + EVAL_BATCH_SIZE]  # y: (B, K)
        logits = model(x)  # (B, K)
        probability = torch.sigmoid(logits)
        predicted = (logits > 0).long()  # the same rule as the logged errors (_wrong)
        confidence = torch.where(predicted == 1, probability, 1.0 - probability)
        losses = F.binary_cross_entropy_with_logits(logits, y.clamp(min=0).to(logits.dtype), reduction="none")
        # Whole batches to Python lists: one device sync per batch, not one per entry.
        y_, p_, c_, l_ = y.tolist(), predicted.tolist(), confidence.tolist(), losses.tolist()
        for i, k in (y >= 0).nonzero().tolist():
            conf, loss = c_[i][k], l_[i][k]
            rows.append(
                {
                    "example_id": str(data.ids[start + i]),
                    "task": tasks[k],
                    "label": y_[i][k],
                    "predicted": p_[i][k],
                    "confidence": conf if math.isfinite(conf) else None,
                    "loss": loss if math.isfinite(loss) else None,
                }
            )
    model.train(was_training)
    return rows


#: Each timed block repeats the forward pass for about this long: far above the timer's resolution, and
#: short enough that many blocks run between two preemptions on a busy machine.
LATENCY_BLOCK_S = 0.002
#: Timed blocks per batch size: as many as fit in LATENCY_BUDGET_S, within these bounds.
LATENCY_BLOCKS = (3, 25)
LATENCY_BUDGET_S = 0.06
#: A sleep before each block gives the core up, so that the block starts on a fresh scheduler time slice.
LATENCY_NAP_S = 0.0005


def _timed_passes(model: nn.Module, x: torch.Tensor, passes: int, device: torch.device) -> float:
    """Seconds for `passes` forward passes, the device's queue drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(passes):
        model(x)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _seconds_per_pass(model: nn.Module, x: torch.Tensor, device: torch.device) -> float:
    """One forward pass's seconds: the fastest of several timed blocks, after two warm-up passes.

    The fastest, not the median: a slower block is slower because another process took the core for
    part of it (timeit's documentation makes the same point), and on a busy 2-core machine that was
    half the blocks or more, so a median of seven 10 ms blocks still moved by up to 77 % between calls.
    """
    model(x)  # warm-up: allocations, kernel selection, lazy initialisation
    one = max(_timed_passes(model, x, 1, device), 1e-6)  # a second warm-up that sizes the blocks
    passes = max(1, round(LATENCY_BLOCK_S / one))
    fewest, most = LATENCY_BLOCKS
    blocks = min(most, max(fewest, int(LATENCY_BUDGET_S / (passes * one))))
    fastest = math.inf
    for _ in range(blocks):
        time.sleep(LATENCY_NAP_S)
        fastest = min(fastest, _timed_passes(model, x, passes, device) / passes)
    return fastest


@torch.no_grad()
def measure_latency(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> dict[str, float]:
    """Inference milliseconds per example at batch sizes 1 and 256 (zeros in, so no RNG is used).

    Each is the fastest of up to 25 short timed blocks after warm-up (see `_seconds_per_pass`), so the
    same model measures the same from one run to the next and a satisficing constraint on latency does
    not pass one run and fail the next. About 0.2 s in all for the built-in models on CPU (busy 2-core VM).
    """
    was_training = model.training
    model.eval()
    result = {}
    for batch in (1, 256):
        x = torch.zeros(batch, *input_shape, device=device)
        result[f"latency_ms_b{batch}"] = _seconds_per_pass(model, x, device) * 1000 / batch
    model.train(was_training)
    return result


def epoch_metrics(
    model: nn.Module, data: dict[str, TensorSplit], lr: float, tasks: tuple[str, ...] = ()
) -> dict[str, float]:
    """The canonical per-epoch metrics on all four splits; for a multi-task dataset also each task's
    errors, `{task}/dev_error` and so on (a task without a labelled example in a split has none there)."""
    metrics: dict[str, float] = {"lr": lr}
    for split in ("train", "train_dev", "dev", "test"):
        if len(data[split].y) == 0:
            continue
        wrong, labelled, total_loss = task_counts(model, data[split])
        metrics[f"{split}_error"] = int(wrong.sum()) / max(1, int(labelled.sum()))
        if split in ("train", "dev"):
            metrics[f"{split}_loss"] = total_loss / len(data[split].y)
        for task, task_wrong, task_labelled in zip(tasks, wrong.tolist(), labelled.tolist(), strict=False):
            if task_labelled:
                metrics[f"{task}/{split}_error"] = task_wrong / task_labelled
    return metrics


def task_sizes(data: dict[str, TensorSplit], tasks: tuple[str, ...]) -> dict[str, float]:
    """How many labelled examples each task has in each split (`{task}/dev_examples`, ...): each task's
    errors are measured on these, so its ladder's noise comes from them."""
    sizes: dict[str, float] = {}
    for split, key in zip(data, SIZE_KEYS, strict=True):
        y = data[split].y
        if not tasks or y.dim() != 2:
            continue
        for task, count in zip(tasks, (y >= 0).sum(dim=0).tolist(), strict=True):
            if count:
                sizes[f"{task}/{key}"] = float(count)
    return sizes


def resume(
    checkpoint: bytes, *, model: nn.Module, hparams: Hparams, generators: dict[str, torch.Generator]
) -> tuple[TrainState, torch.optim.Optimizer]:
    """Load `checkpoint` into `model`, the generators and a new optimizer; returns the state and optimizer."""
    optimizer = make_optimizer(model, hparams)
    try:
        return load_checkpoint(checkpoint, model=model, optimizer=optimizer, generators=generators), optimizer
    except ValueError as exc:
        if "parameter groups" not in str(exc):
            raise
    # Checkpoints written before runs without L2 used one parameter group have two.
    optimizer = make_optimizer(model, hparams, split_groups=True)
    return load_checkpoint(checkpoint, model=model, optimizer=optimizer, generators=generators), optimizer


def update_best(state: TrainState, model: nn.Module, epoch: int, dev_error: float) -> None:
    """Remember the epoch with the lowest dev error (the earliest on ties)."""
    if dev_error < state.best_dev_error:
        state.best_epoch, state.best_dev_error, state.epochs_since_best = epoch, dev_error, 0
        state.best_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        state.epochs_since_best += 1


def fit(
    model: nn.Module,
    splits: Splits,
    hparams: Hparams | dict[str, Any],
    *,
    device: torch.device,
    reporter: Reporter,
    checkpoint: bytes | None = None,
    progress_interval_s: float = 2.0,
    checkpoint_interval_s: float = 0.0,
    stop: threading.Event | None = None,
) -> FitResult:
    """Train `model` on `splits`, reporting metrics, progress and checkpoints; resumes from `checkpoint`.

    Checkpoints follow the first and the final epoch, and any epoch that ends `checkpoint_interval_s` or
    more after the last checkpoint (0: every epoch). When early stopping is on, the model ends with the
    weights of its best dev-error epoch. Setting `stop` (from another thread) cancels the run at the next
    step boundary. Training steps run in `hparams.precision`; a device that cannot raises
    PrecisionUnsupported (a ValueError) before anything trains.
    """
    hp = hparams if isinstance(hparams, Hparams) else Hparams.model_validate(hparams)
    precision = mixed_precision(hp.precision, device)
    model.to(device)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    data = {name: to_device(splits.by_name(name), device) for name in ("train", "train_dev", "dev", "test")}
    generators = {
        "shuffle": torch.Generator().manual_seed(hp.seed),
        "augment": torch.Generator().manual_seed(hp.seed + 1),
    }
    if checkpoint is not None:
        state, optimizer = resume(checkpoint, model=model, hparams=hp, generators=generators)
        logger.info("resuming after epoch %d", state.epoch)
    else:
        optimizer = make_optimizer(model, hp)
        state = TrainState()
        count = float(sum(p.numel() for p in model.parameters()))
        # The split sizes: train_examples places the run on a learning curve over data size, and all four
        # tell the diagnosis how much of a gap is sampling noise (one of 270 dev examples is 0.37 points).
        one_off = {"param_count": count}
        for split, key in zip(data, SIZE_KEYS, strict=True):
            if len(data[split].y):
                one_off[key] = float(len(data[split].y))
        one_off.update(task_sizes(data, splits.info.tasks))
        reporter.on_epoch(0, {**one_off, **measure_latency(model, splits.info.input_shape, device)})
    per_epoch = steps_per_epoch(len(data["train"].y), hp.batch_size)
    pacer = Pacer(
        reporter,
        epochs=hp.epochs,
        steps=per_epoch * hp.epochs,
        first_step=state.step,
        interval_s=progress_interval_s,
        stop=stop,
    )
    stopped_early = False
    saver = CheckpointSaver(reporter, interval_s=checkpoint_interval_s)
    try:
        for epoch in range(state.epoch + 1, hp.epochs + 1):
            lr = learning_rate(epoch, hp)
            set_learning_rate(optimizer, lr)
            pacer.epoch = epoch
            try:
                kept_going = train_one_epoch(
                    model,
                    data["train"],
                    optimizer,
                    hparams=hp,
                    epoch=epoch,
                    first_step=state.step,
                    shuffle=generators["shuffle"],
                    augment=generators["augment"],
                    on_step=pacer.report,
                    precision=precision,
                )
            except Diverged as exc:
                return FitResult("diverged", str(exc), epoch, state.best_epoch, state.last_metrics)
            if not kept_going:
                return FitResult("cancelled", None, epoch, state.best_epoch, state.last_metrics)
            state.step = epoch * per_epoch
            metrics = epoch_metrics(model, data, lr, splits.info.tasks)
            bad = sorted(key for key, value in metrics.items() if not math.isfinite(value))
            if bad:
                message = f"{bad[0]} became {metrics[bad[0]]} at epoch {epoch}: try a lower learning rate"
                return FitResult("diverged", message, epoch, state.best_epoch, state.last_metrics)
            reporter.on_epoch(epoch, metrics)
            state.epoch, state.last_metrics = epoch, metrics
            if hp.early_stopping_patience is not None:
                update_best(state, model, epoch, metrics.get("dev_error", metrics["train_error"]))
                stopped_early = state.epochs_since_best >= hp.early_stopping_patience
            if saver.due(final=stopped_early or epoch == hp.epochs):
                saver.submit(
                    epoch,
                    checkpoint_payload(model=model, optimizer=optimizer, state=state, generators=generators),
                )
            if not pacer.report(state.step, 0, force=True):
                return FitResult("cancelled", None, epoch, state.best_epoch, state.last_metrics)
            if stopped_early:
                logger.info("early stopping after epoch %d; best was epoch %s", epoch, state.best_epoch)
                break
    finally:
        saver.close()
    if state.best_model is not None:
        model.load_state_dict(state.best_model)
        reporter.on_epoch(state.epoch, {"best_epoch": float(state.best_epoch or 0)})
    return FitResult("succeeded", None, state.epoch, state.best_epoch, state.last_metrics)


__all__ = [
    "Diverged",
    "FitResult",
    "Progress",
    "Reporter",
    "TensorSplit",
    "evaluate",
    "fit",
    "measure_latency",
    "predict",
    "predict_tasks",
    "resolve_device",
    "set_seed",
    "to_device",
    "train_one_epoch",
]
