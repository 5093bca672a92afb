"""A PyTorch Lightning logger that logs to Trainboard, and a callback that logs the split sizes and posts
dev predictions.

    trainer = Trainer(logger=TrainboardLogger(project="mnist"), callbacks=[TrainboardCallback(predict=dev)])

Steps: Trainboard's canonical keys hold one point per epoch at step = the epoch number (API.md). Lightning
reports the epoch with every log, so every metric named after a split (``val_loss``, ``train_acc``,
``test_acc``, ``*_epoch``) is logged at step = that epoch + 1 (1, 2, ...), whether Lightning logged it per
step or per epoch: log training metrics with ``on_epoch=True`` and the epoch's mean is what lands (logged
per step only, the epoch's last value does). A ``*_step`` metric and any other name (``lr-Adam``,
``grad_norm``) keep their name at step = the global step, as finer-grained series.
"""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from trainboard._base import one_line
from trainboard.client import BaseRun, Client
from trainboard.integrations._keys import canonical_metrics, split_of
from trainboard.integrations._predictions import log_classification_predictions
from trainboard.integrations._runs import log_metrics, scalar_params, start_run

#: Lightning's finalize status -> the run's; "finished" (a SLURM requeue) leaves the run open.
STATUSES = {"success": "succeeded", "failed": "failed", "aborted": "cancelled", "interrupted": "cancelled"}


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested hyperparameters as dotted names: {"optim": {"lr": 0.1}} -> {"optim.lr": 0.1}."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def epoch_and_step_metrics(
    metrics: Mapping[str, float], epoch: int | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Split one Lightning log into (per-epoch metrics under canonical names, finer-grained ones)."""
    per_epoch: dict[str, float] = {}
    fine: dict[str, float] = {}
    for key, value in metrics.items():
        if key.endswith("_step"):
            fine[key] = value
        elif epoch is not None and split_of(key.removesuffix("_epoch")) is not None:
            per_epoch[key.removesuffix("_epoch")] = value
        else:
            fine[key] = value
    return canonical_metrics(per_epoch), fine


class _StartsOnUse:
    """Stands in for a logger's run until something uses it: any attribute starts the run."""

    def __init__(self, logger: TrainboardLogger) -> None:
        self._logger = logger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger._start(), name)


class TrainboardLogger(Logger):
    """Logs a Lightning run to Trainboard: hyperparameters as params, metrics mapped to the canonical keys
    (``val_loss`` -> ``dev_loss``, ``val_acc``/``val_accuracy`` -> ``dev_error`` = 1 - accuracy, ``val_error``
    -> ``dev_error``, ``train_loss`` as it is, other ``val_*`` -> ``dev_*``), and the run finished with
    Lightning's status.

    The run starts when Lightning logs the hyperparameters (``self.save_hyperparameters()``), or at the
    first metric, so that they become its params; ``experiment`` is the trainboard Run (use it for
    ``run.log_predictions`` or ``log_classification_predictions``).

    Args:
        project: the Trainboard project; None: TRAINBOARD_PROJECT.
        name: the run's name.
        group: runs that differ only by seed share a group.
        params: hyperparameters to record beside those Lightning logs.
        client: a ``trainboard.Client`` (default: from the settings, TRAINBOARD_SERVER_URL ...).
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        *,
        group: str | None = None,
        params: Mapping[str, Any] | None = None,
        client: Client | None = None,
    ) -> None:
        super().__init__()
        self.project, self._name, self.group, self.client = project, name, group, client
        self._params: dict[str, Any] = scalar_params(_flatten(params or {}))
        self._run: BaseRun | None = None

    @property
    def name(self) -> str | None:
        """The run's name (the project's when none was given)."""
        return self._name or self.project

    @property
    def version(self) -> int | str | None:
        """The run's id, once it has started."""
        return None if self._run is None else self._run.id

    @property
    @rank_zero_experiment
    def experiment(self) -> BaseRun:
        """The trainboard Run; before it has started, a stand-in that starts it when first used.

        Lightning reads ``experiment`` while setting up, before it logs the hyperparameters: starting the
        run there would leave them out of its params (a run's params are fixed when it starts)."""
        return self._run if self._run is not None else _StartsOnUse(self)  # type: ignore[return-value]  # a stand-in: each attribute is the started run's

    def _start(self) -> BaseRun:
        if self._run is None:
            self._run = start_run(
                project=self.project,
                name=self._name,
                params=self._params,
                group=self.group,
                client=self.client,
            )
        return self._run

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Record hyperparameters; those logged before the run starts become its params."""
        values = vars(params) if isinstance(params, Namespace) else dict(params)
        self._params |= scalar_params(_flatten(values))
        self._start()  # Lightning logs them once, before training: the run starts with them

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log one Lightning log (see the module's note on steps)."""
        values = {k: float(v) for k, v in metrics.items()}
        epoch = values.pop("epoch", None)
        per_epoch, fine = epoch_and_step_metrics(values, None if epoch is None else int(epoch))
        run = self._start()
        if per_epoch and epoch is not None:
            log_metrics(run, per_epoch, step=int(epoch) + 1)
        if fine:
            log_metrics(run, fine, step=step or 0)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Finish the run with Lightning's status; a failure carries the exception being handled."""
        run = self._start()
        if status not in STATUSES:
            if hasattr(run, "flush"):
                run.flush()
            return
        handled = sys.exc_info()[1]  # Lightning finalizes "failed" inside its except block
        error = one_line(handled) if status == "failed" and handled is not None else None
        run.finish(STATUSES[status], error)


def _size(dataloader: Any) -> int | None:
    """The number of examples behind a single dataloader; None for several, or an iterable dataset."""
    try:
        return len(dataloader.dataset)
    except (AttributeError, TypeError):
        return None


class TrainboardCallback(Callback):
    """Optional companion of TrainboardLogger: logs the train and dev split sizes when training starts (the
    diagnosis's noise level), and with ``predict``, posts a classifier's predictions when fitting ends, so
    that error analysis works on them.

    ``predict`` yields ``(inputs, labels)`` batches in a fixed order (no shuffling), and the module's
    ``forward(inputs)`` returns logits or probabilities, (batch, classes).

    Args:
        predict: the examples whose predictions are posted, e.g. the dev split's loader.
        example_ids: their stable ids, in the loader's order; default their positions.
        split: the split they come from ("dev", "test", ...).
    """

    def __init__(
        self, predict: Any = None, example_ids: Sequence[Any] | None = None, split: str = "dev"
    ) -> None:
        self.predict, self.example_ids, self.split = predict, example_ids, split

    @staticmethod
    def _logger(trainer: Trainer) -> TrainboardLogger:
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TrainboardLogger)), None)
        if logger is None:
            raise ValueError(
                "trainboard's TrainboardCallback needs a TrainboardLogger among the Trainer's loggers"
            )
        return logger

    @rank_zero_only
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log how many examples the train and dev errors are measured on."""
        sizes = {
            "train_examples": _size(trainer.train_dataloader),
            "dev_examples": _size(trainer.val_dataloaders),
        }
        known = {key: n for key, n in sizes.items() if n}
        if known:
            log_metrics(self._logger(trainer).experiment, known, step=0)

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Run the trained module over ``predict`` and post the predictions to the logger's run."""
        if self.predict is None:
            return
        labels, outputs = [], []
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            for inputs, targets in self.predict:
                outputs.append(pl_module(inputs.to(pl_module.device)).float().cpu())
                labels.append(targets.cpu())
        pl_module.train(was_training)
        log_classification_predictions(
            self._logger(trainer).experiment,
            self.split,
            self.example_ids,
            torch.cat(labels),
            torch.cat(outputs),
        )
