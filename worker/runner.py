"""Run one queued training job end to end through the API (the Celery task is a thin wrapper)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import torch

from models import build_model
from models.config import RunConfig, RunConfigError
from trainboard.client import Client, TrainboardError
from trainboard.datasets import apply_label_corrections, keep_task, load_splits
from trainboard.environment import machine
from trainboard.settings import get_settings
from trainboard.system_metrics import SystemSampler, points, run_origin
from worker import shutdown
from worker.dataset_cache import fetch_dataset, is_uploaded
from worker.precision import PrecisionUnsupported, mixed_precision
from worker.reporting import ApiReporter, describe_error
from worker.train import FitResult, fit, predict, predict_tasks, resolve_device, set_seed, to_device
from worker.transfer import apply_transfer

logger = logging.getLogger(__name__)

#: The artifact a finished run's best model is stored as.
BEST_MODEL_ARTIFACT = "model/best.pt"
#: Seconds between heartbeats (each one is also where a cancel from the server is noticed).
PROGRESS_INTERVAL_S = 2.0


class TransferSourceMissing(ValueError):
    """The run to transfer from lost its checkpoint after this run was queued."""


class DatasetMissing(ValueError):
    """The run's uploaded dataset is gone from the server (deleted after the run was queued)."""


def fetch_uploaded_dataset(client: Client, dataset_id: int) -> Path:
    """The uploaded dataset's file; DatasetMissing (its message becomes the run's error) on a 404."""
    try:
        return fetch_dataset(client, dataset_id)
    except TrainboardError as exc:
        if exc.status_code != 404:
            raise
        raise DatasetMissing(
            f"dataset {dataset_id} is no longer on the server (deleted after the run was queued): "
            "upload it again and submit a new run"
        ) from exc


def transfer_weights(
    client: Client, config: RunConfig, model: torch.nn.Module, *, resuming: bool
) -> dict[str, float]:
    """Start a fine-tuned run from its source's weights and freeze what it does not train; returns the
    one-off figures to log (frozen parameters, tensors carried over), {} without transfer.

    A run resuming its own checkpoint has the transferred weights already: it only freezes again."""
    if config.transfer is None:
        return {}
    source_id = config.transfer.from_run_id
    source = None if resuming else client.get_checkpoint(source_id)
    if not resuming and source is None:
        raise TransferSourceMissing(
            f"run {source_id}, which this run starts from, has no checkpoint any more"
        )
    report = apply_transfer(model, config.transfer, source)
    params = dict(model.named_parameters())
    logger.info("%d tensors from run %d; new: %s", len(report.loaded), source_id, ", ".join(report.fresh))
    return {
        "frozen_params": float(sum(params[name].numel() for name in report.frozen)),
        "transferred_tensors": float(len(report.loaded)),
    }


def worker_name() -> str:
    """ "host:pid", how the server names the process that trains a run."""
    return f"{socket.gethostname()}:{os.getpid()}"


def train_run(
    client: Client,
    run: dict[str, Any],
    *,
    device: torch.device,
    config: RunConfig | None = None,
    progress_interval_s: float = PROGRESS_INTERVAL_S,
    checkpoint_interval_s: float | None = None,
) -> FitResult:
    """Train a started run from its resolved config, resuming from its checkpoint; posts predictions.

    Checkpoints follow every epoch, except that epochs shorter than `checkpoint_interval_s` (the setting by
    default) share one per interval: on digits an epoch takes ~20 ms, and uploading the model and optimizer
    50 times a second would cost 6 % of the training time for no safety a user would notice. `config` is
    the run's, typed (read from `run` when not given)."""
    if checkpoint_interval_s is None:
        checkpoint_interval_s = get_settings().checkpoint_interval_s
    run_id = int(run["id"])
    if config is None:
        config = RunConfig.from_stored(run.get("config"))
    hparams = config.hparams
    dataset = str(run["dataset"])
    file = fetch_uploaded_dataset(client, int(dataset)) if is_uploaded(dataset) else None
    splits = load_splits(
        dataset, train_fraction=hparams.train_fraction, normalize=hparams.normalize, file=file
    )
    version = config.dataset_version or 1
    if version > 1:  # label corrections made version 2 and later: dev and test carry them
        splits = apply_label_corrections(splits, client.label_corrections(int(run["project_id"]), version))
    if config.task is not None:  # one task of a multi-task dataset: a separate network for it
        splits = keep_task(splits, config.task)
    info = splits.info
    set_seed(hparams.seed)
    model = build_model(
        config.model or {"name": "mlp"},
        input_shape=info.input_shape,
        n_classes=info.n_outputs,
        keep_prob=hparams.keep_prob,
    )
    checkpoint = client.get_checkpoint(run_id)
    transferred = transfer_weights(client, config, model, resuming=checkpoint is not None)
    interval_s = get_settings().system_metrics_interval_s
    sampler: contextlib.AbstractContextManager[object] = (
        SystemSampler(
            lambda step, values: client.log_metrics(run_id, points(step, values)),
            origin=run_origin(run),
            interval_s=interval_s,
        )
        if interval_s > 0
        else contextlib.nullcontext()
    )
    with (
        ApiReporter(client, run_id, worker=run.get("worker")) as reporter,
        shutdown.stopping(reporter.stop),
        sampler,
    ):
        if transferred:
            reporter.on_epoch(0, transferred)
        result = fit(
            model,
            splits,
            hparams,
            device=device,
            reporter=reporter,
            checkpoint=checkpoint,
            progress_interval_s=progress_interval_s,
            checkpoint_interval_s=checkpoint_interval_s,
            stop=reporter.stop,
        )
    if result.status == "succeeded":
        for split in ("dev", "test"):
            data = to_device(splits.by_name(split), device)
            # A multi-task run sends each labelled (example, task) entry once, with its task; a run of one
            # task alone (config.task) is a single-task run, whose predictions name no task.
            rows = predict_tasks(model, data, info.tasks) if info.tasks else predict(model, data)
            if config.task is not None:
                rows = [{key: value for key, value in row.items() if key != "task"} for row in rows]
            client.log_predictions(run_id, split, rows)
        if not info.tasks:
            upload_best_model(client, run_id, model, config, result)
    return result


def upload_best_model(
    client: Client, run_id: int, model: torch.nn.Module, config: RunConfig, result: FitResult
) -> None:
    """Store the trained model (fit leaves the best dev-error epoch's weights in it) as the run's artifact
    BEST_MODEL_ARTIFACT: {"model": its config, "state_dict", "best_epoch"} as torch.save bytes. A failed
    upload is logged, not a failed run: the weights are also in the run's checkpoint."""
    payload = {
        "model": config.model,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "best_epoch": result.best_epoch,
    }
    with tempfile.TemporaryDirectory(prefix="trainboard-best-") as folder:
        path = Path(folder) / "best.pt"
        torch.save(payload, path)
        try:
            client.put_artifact(run_id, path, BEST_MODEL_ARTIFACT)
        except TrainboardError as exc:
            logger.warning("run %d: the best model was not stored as an artifact: %s", run_id, exc)


def is_dead_local_worker(name: str | None) -> bool:
    """True when `name` ("host:pid") is a process of this host that no longer exists."""
    host, _, pid = (name or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def environment(device: torch.device, precision: str | None = None) -> dict[str, Any]:
    """What this worker trains with, sent with its claim: the device (and the GPU's name), the precision
    its training steps run in (None: it will not train the run), torch and CUDA versions, Python, host and
    platform."""
    found = {**machine(), "device": str(device)}
    if precision is not None:
        found["precision"] = precision
    if device.type == "cuda":
        found["gpu"] = torch.cuda.get_device_name(device)
    return found


def claim(client: Client, run_id: int, device: torch.device, precision: str | None = None) -> dict[str, Any]:
    """Start the run; after a SIGKILLed pool process, its redelivered task takes over the dead claim.

    The server refuses a second worker while the first's heartbeat is fresh; a sibling process on the same
    host can prove the first is gone, so the run resumes now instead of after the heartbeat timeout.
    """
    here = environment(device, precision)
    try:
        return client.start_run(run_id, worker=worker_name(), device=str(device), environment=here)
    except TrainboardError as exc:
        if exc.status_code != 409 or "already running on" not in str(exc.detail):
            raise  # finished runs are skipped by the caller
        holder = client.get_run(run_id)
        if holder["status"] != "running" or not is_dead_local_worker(holder.get("worker")):
            raise
        logger.warning("run %d: its worker %s is gone; taking it over", run_id, holder["worker"])
        return client.start_run(
            run_id, worker=worker_name(), device=str(device), replaces=holder["worker"], environment=here
        )


def hand_back(client: Client, run_id: int) -> str:
    """The worker is stopping: give the run back to the queue now, so that the next worker resumes it from
    its checkpoint instead of it waiting for the heartbeat timeout. Returns "handed back" (or "cancelled"
    when it was cancelled or taken over meanwhile)."""
    try:
        client.release_run(run_id, worker=worker_name(), reason=shutdown.reason())
    except TrainboardError as exc:
        if exc.status_code != 409:
            raise
        logger.info("run %d not handed back: %s", run_id, exc.detail)
        return "cancelled"
    logger.info("run %d handed back (%s): it resumes from its checkpoint", run_id, shutdown.reason())
    return "handed back"


def read_config(client: Client, run_id: int, device: torch.device) -> tuple[RunConfig | None, str | None]:
    """The run's config and None, or None and why this worker cannot train it (a field it does not know,
    a precision its device cannot do): read before the claim, so the claim says what it trains with."""
    try:
        config = client.get_run_config(run_id)
        mixed_precision(config.hparams.precision, device)
    except (RunConfigError, PrecisionUnsupported) as exc:
        return None, str(exc)
    return config, None


def execute(run_id: int, *, client: Client, device_setting: str = "auto") -> str:
    """Claim, train and finish one run; returns the final status ("skipped" for a finished run, or a
    duplicate message of a run another worker holds)."""
    try:
        device = resolve_device(device_setting)
        config, refusal = read_config(client, run_id, device)
        run = claim(client, run_id, device, precision=config.hparams.precision if config else None)
    except TrainboardError as exc:
        if exc.status_code == 409:  # finished, or a duplicate delivery while another worker trains it
            logger.info("run %d not claimed (%s); dropping this delivery", run_id, exc.detail)
            return "skipped"
        raise
    if run.get("external"):
        logger.warning("run %d is an external run; workers do not train those", run_id)
        return "skipped"
    if config is None:
        logger.error("run %d not trained: %s", run_id, refusal)
        client.finish_run(run_id, "failed", refusal)
        return "failed"
    batch_size = config.hparams.batch_size
    try:
        result = train_run(client, run, device=device, config=config)
    except Exception as exc:
        message = describe_error(exc, device=str(device), batch_size=batch_size)
        logger.exception("run %d failed: %s", run_id, message)
        client.finish_run(run_id, "failed", message)
        return "failed"
    if result.status == "cancelled" and shutdown.requested():
        return hand_back(client, run_id)
    if result.status == "cancelled":
        logger.info("run %d stopped: no longer running on the server", run_id)
        return "cancelled"
    client.finish_run(run_id, result.status, result.error)
    logger.info("run %d %s after %d epochs", run_id, result.status, result.epochs_run)
    return result.status


__all__ = [
    "BEST_MODEL_ARTIFACT",
    "DatasetMissing",
    "TransferSourceMissing",
    "execute",
    "hand_back",
    "train_run",
    "upload_best_model",
    "worker_name",
]
