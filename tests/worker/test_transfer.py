"""Transfer learning in the worker: weights carried over by name and shape, frozen layers that do not
move (bit for bit, batch-norm statistics included), and a fine-tuned run that starts far ahead."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
import pytest
import torch

from models import build_model, resolve_model_config
from models.config import DATASET_HPARAMS, Hparams, Transfer
from tests.worker.test_runner import WorkerApi, execute
from tests.worker.test_train import CPU, RecordingReporter
from trainboard.datasets import DATASETS, load_splits
from worker.train import fit, set_seed
from worker.transfer import apply_transfer, source_weights, weight_layers

MODEL = {"name": "mlp", "hidden": [64, 32], "batch_norm": True}


@cache
def source_checkpoint() -> bytes:
    """A BN MLP trained for 15 epochs on the large source task (about 2 s on a busy CPU)."""
    _, reporter = train_on("digits-source", epochs=15)
    return reporter.checkpoints[max(reporter.checkpoints)]


def build(dataset: str, seed: int = 0) -> torch.nn.Module:
    info = DATASETS[dataset]
    config = resolve_model_config(
        MODEL, kind=info.kind, input_shape=info.input_shape, n_classes=info.n_classes
    )
    set_seed(seed)
    return build_model(config, input_shape=info.input_shape, n_classes=info.n_classes)


def train_on(
    dataset: str, transfer: Transfer | None = None, **overrides: Any
) -> tuple[torch.nn.Module, RecordingReporter]:
    hparams = Hparams.model_validate({**DATASET_HPARAMS[dataset], **overrides})
    model = build(dataset)
    if transfer is not None:
        apply_transfer(model, transfer, source_checkpoint())
    reporter = RecordingReporter()
    fit(model, load_splits(dataset), hparams, device=CPU, reporter=reporter, progress_interval_s=0)
    return model, reporter


def test_layers_are_matched_by_name_and_shape_and_a_new_head_is_made() -> None:
    model = build_model(
        resolve_model_config(MODEL, kind="image", input_shape=(1, 8, 8), n_classes=3),
        input_shape=(1, 8, 8),
        n_classes=3,
    )
    report = apply_transfer(model, Transfer(from_run_id=1, trainable="head"), source_checkpoint())
    assert report.fresh == ["head.bias", "head.weight"]  # 10 classes there, 3 here
    assert "hidden.0.weight" in report.loaded and "hidden.1.running_mean" in report.loaded
    source = source_weights(source_checkpoint())
    assert torch.equal(model.state_dict()["hidden.0.weight"], source["hidden.0.weight"])
    assert weight_layers(model) == ["hidden.0", "hidden.3", "head"]


@pytest.mark.parametrize(
    ("trainable", "frozen_prefixes"),
    [("head", ("hidden.",)), (2, ("hidden.0.", "hidden.1.")), ("all", ())],
)
def test_frozen_layers_do_not_move_bit_for_bit(trainable: Any, frozen_prefixes: tuple[str, ...]) -> None:
    source = source_weights(source_checkpoint())
    model, _ = train_on("digits-target", Transfer(from_run_id=1, trainable=trainable), epochs=3)
    after = model.state_dict()
    frozen = [k for k in after if k.startswith(frozen_prefixes)] if frozen_prefixes else []
    moved = [
        k for k in after if not k.endswith("num_batches_tracked") and not torch.equal(after[k], source[k])
    ]
    # Frozen: weights, biases and the batch-norm running statistics are the source's, exactly.
    assert frozen == [k for k in frozen if torch.equal(after[k], source[k])]
    assert "head.weight" in moved
    if trainable == "head":
        assert set(moved) == {"head.weight", "head.bias"}
    if trainable == "all":
        assert "hidden.0.weight" in moved and "hidden.1.running_mean" in moved


def test_a_fine_tuned_run_starts_far_better_than_one_from_scratch() -> None:
    _, scratch = train_on("digits-target", epochs=1)
    _, tuned = train_on("digits-target", Transfer(from_run_id=1, trainable="head"), epochs=1)
    # 233 dev examples: a 20-point gap is far beyond noise (about 4 points).
    assert tuned.metrics[1]["dev_error"] < scratch.metrics[1]["dev_error"] - 0.2


class TransferApi(WorkerApi):
    """A run on digits-target that starts from run 9's weights; run 9's checkpoint is `source`."""

    def __init__(self, source: bytes | None) -> None:
        super().__init__(dataset="digits-target")
        self.run["config"]["model"] = MODEL
        self.run["config"]["transfer"] = {"from_run_id": 9, "trainable": "head"}
        self.source = source

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/runs/9/checkpoint":
            if self.source is None:
                return httpx.Response(404, json={"detail": "Checkpoint of run 9 not found"})
            return httpx.Response(200, content=self.source)
        return super().__call__(request)


def test_the_worker_fetches_the_source_weights_through_the_api() -> None:
    api = TransferApi(source_checkpoint())
    assert execute(api) == "succeeded"
    # hidden.0 (w, b), hidden.1 (w, b, mean, var, count), hidden.3, hidden.4 alike, and the head: both
    # tasks have the 10 digit classes, so the output layer carries over too (and alone trains).
    assert api.metrics[("transferred_tensors", 0)] == 16
    assert api.metrics[("frozen_params", 0)] == 64 * 64 + 64 + 2 * 64 + 64 * 32 + 32 + 2 * 32
    assert api.metrics[("dev_error", 1)] < 0.5


def test_a_source_that_lost_its_checkpoint_fails_the_run_saying_so() -> None:
    api = TransferApi(None)
    assert execute(api) == "failed"
    assert api.finished == ("failed", "run 9, which this run starts from, has no checkpoint any more")
