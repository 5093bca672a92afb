"""The training loop on CPU with tiny configs: quality, determinism, regularisation, control flow."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from models import build_model, resolve_model_config
from models.config import DATASET_HPARAMS, Hparams
from trainboard.datasets import DATASETS, Splits, load_splits
from worker.optim import learning_rate
from worker.train import Progress, fit, predict, resolve_device, set_seed, to_device

CPU = torch.device("cpu")


class RecordingReporter:
    """Keeps what fit reports; cancels after `cancel_after_epoch` epochs when asked."""

    def __init__(self, cancel_after_epoch: int | None = None) -> None:
        self.cancel_after_epoch = cancel_after_epoch
        self.metrics: dict[int, dict[str, float]] = {}
        self.progress: list[Progress] = []
        self.checkpoints: dict[int, bytes] = {}
        self.cancelled = False

    def on_progress(self, progress: Progress) -> bool:
        self.progress.append(progress)
        return not self.cancelled

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.metrics.setdefault(epoch, {}).update(metrics)
        if self.cancel_after_epoch is not None and epoch >= self.cancel_after_epoch:
            self.cancelled = True

    def on_checkpoint(self, epoch: int, data: bytes) -> None:
        self.checkpoints[epoch] = data


def make_model(dataset: str, hparams: Hparams, model: dict[str, Any] | None = None) -> torch.nn.Module:
    info = DATASETS[dataset]
    config = resolve_model_config(
        model or {}, kind=info.kind, input_shape=info.input_shape, n_classes=info.n_classes
    )
    set_seed(hparams.seed)
    return build_model(
        config, input_shape=info.input_shape, n_classes=info.n_outputs, keep_prob=hparams.keep_prob
    )


def train(
    dataset: str = "digits",
    model: dict[str, Any] | None = None,
    reporter: RecordingReporter | None = None,
    checkpoint: bytes | None = None,
    **overrides: Any,
) -> tuple[torch.nn.Module, RecordingReporter, Any, Splits]:
    hparams = Hparams.model_validate({**DATASET_HPARAMS[dataset], **overrides})
    splits = load_splits(dataset, train_fraction=hparams.train_fraction, normalize=hparams.normalize)
    net = make_model(dataset, hparams, model)
    reporter = reporter or RecordingReporter()
    result = fit(
        net, splits, hparams, device=CPU, reporter=reporter, checkpoint=checkpoint, progress_interval_s=0
    )
    return net, reporter, result, splits


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_default_digits_mlp_reaches_dev_error_below_ten_percent() -> None:
    # How long it takes is measured in bench/train_overhead.py, not asserted here.
    _, reporter, result, _ = train("digits")
    assert result.status == "succeeded"
    final = reporter.metrics[Hparams.model_validate(DATASET_HPARAMS["digits"]).epochs]
    assert final["dev_error"] < 0.10


def test_fit_logs_the_canonical_keys_every_epoch() -> None:
    _, reporter, result, _ = train(epochs=2, train_fraction=0.2)
    assert set(reporter.metrics[0]) == {
        "param_count", "latency_ms_b1", "latency_ms_b256",
        "train_examples", "train_dev_examples", "dev_examples", "test_examples",
    }  # fmt: skip
    # The split sizes the diagnosis reads its noise from: digits' 1,797 examples, train at 20 %.
    sizes = [reporter.metrics[0][f"{s}_examples"] for s in ("train", "train_dev", "dev", "test")]
    assert sizes[0] < sizes[2] and all(n == int(n) > 0 for n in sizes)
    for epoch in (1, 2):
        assert set(reporter.metrics[epoch]) == {
            "train_error", "train_dev_error", "dev_error", "test_error", "train_loss", "dev_loss", "lr"
        }  # fmt: skip
        assert 0.0 <= reporter.metrics[epoch]["dev_error"] <= 1.0
    assert result.epochs_run == 2 and sorted(reporter.checkpoints) == [1, 2]
    last = reporter.progress[-1]
    assert (last.epoch, last.epochs, last.step, last.steps) == (2, 2, last.steps, last.steps)
    assert last.examples_per_sec and last.examples_per_sec > 0


def test_seeded_runs_repeat_exactly() -> None:
    options = {"epochs": 2, "train_fraction": 0.3, "keep_prob": 0.8, "augment": True, "seed": 3}
    first_model, first, _, _ = train(**options)
    second_model, second, _, _ = train(**options)
    for epoch in (1, 2):
        assert first.metrics[epoch] == second.metrics[epoch]
    assert all(torch.equal(a, b) for a, b in zip(weights(first_model), weights(second_model), strict=True))


def test_different_seeds_differ() -> None:
    a, _, _, _ = train(epochs=1, train_fraction=0.2, seed=1)
    b, _, _, _ = train(epochs=1, train_fraction=0.2, seed=2)
    assert not torch.equal(weights(a)[0], weights(b)[0])


def test_l2_shrinks_the_weight_norm() -> None:
    def norm(l2: float) -> float:
        model, _, _, _ = train("wine", epochs=10, l2=l2)
        return sum(float(p.detach().norm() ** 2) for p in model.parameters() if p.dim() > 1)

    assert norm(0.1) < 0.9 * norm(0.0)


def test_early_stopping_restores_the_best_epoch() -> None:
    model, reporter, result, splits = train(
        "wine", epochs=40, lr=0.05, batch_size=8, early_stopping_patience=3, model={"hidden": [256, 256]}
    )
    dev_errors = {e: m["dev_error"] for e, m in reporter.metrics.items() if "dev_error" in m}
    best_epoch = min(dev_errors, key=lambda e: (dev_errors[e], e))
    assert result.best_epoch == best_epoch
    assert result.epochs_run < 40 and result.epochs_run - best_epoch == 3
    predictions = predict(model, to_device(splits.dev, CPU))
    wrong = sum(p["label"] != p["predicted"] for p in predictions) / len(predictions)
    assert wrong == pytest.approx(dev_errors[best_epoch])
    assert reporter.metrics[result.epochs_run]["best_epoch"] == best_epoch


def test_cancel_stops_without_finishing_the_epochs() -> None:
    _, reporter, result, _ = train(
        epochs=5, train_fraction=0.2, reporter=RecordingReporter(cancel_after_epoch=1)
    )
    assert result.status == "cancelled"
    assert max(reporter.metrics) == 1


def test_cancel_stops_within_one_step() -> None:
    class CancelAtStep(RecordingReporter):
        def on_progress(self, progress: Progress) -> bool:
            super().on_progress(progress)
            return progress.step < 3

    _, reporter, result, _ = train(epochs=3, batch_size=16, reporter=CancelAtStep())
    assert result.status == "cancelled"
    assert reporter.progress[-1].step == 3 and 1 not in reporter.metrics


def test_stop_event_set_mid_epoch_stops_at_the_next_step() -> None:
    # The worker's status poller sets the event from another thread while a step runs; here a forward hook
    # sets it during the 5th training step of the first epoch, with no heartbeat due for the whole run.
    hparams = Hparams.model_validate({**DATASET_HPARAMS["digits"], "epochs": 3, "batch_size": 16})
    splits = load_splits("digits", normalize=hparams.normalize)
    net = make_model("digits", hparams)
    reporter, stop, training_steps = RecordingReporter(), threading.Event(), []

    def count_step(module: torch.nn.Module, inputs: Any, output: Any) -> None:
        if module.training:
            training_steps.append(1)
            if len(training_steps) == 5:
                stop.set()

    net.register_forward_hook(count_step)
    result = fit(net, splits, hparams, device=CPU, reporter=reporter, progress_interval_s=1e9, stop=stop)
    assert result.status == "cancelled" and result.epochs_run == 1
    assert len(training_steps) == 5  # the step under way finished; no further step started
    assert 1 not in reporter.metrics and not reporter.checkpoints


def test_huge_learning_rate_diverges_with_a_helpful_message() -> None:
    # The largest learning rate the schema takes, on three layers: NaN within the first epoch.
    _, _, result, _ = train(epochs=3, lr=10.0, optimizer="sgd", model={"hidden": [64, 64, 64]})
    assert result.status == "diverged"
    assert "loss became" in result.error and "try a lower learning rate" in result.error


def test_resume_from_checkpoint_matches_an_uninterrupted_run() -> None:
    options = {"epochs": 4, "train_fraction": 0.3, "keep_prob": 0.8, "augment": True, "optimizer": "adam"}
    full_model, full, _, _ = train(**options)
    _, partial, stopped, _ = train(**options, reporter=RecordingReporter(cancel_after_epoch=2))
    assert stopped.status == "cancelled" and max(partial.checkpoints) == 2
    resumed_model, resumed, result, _ = train(**options, checkpoint=partial.checkpoints[2])
    assert result.status == "succeeded" and sorted(k for k in resumed.metrics if k > 0) == [3, 4]
    for epoch in (3, 4):
        assert resumed.metrics[epoch] == full.metrics[epoch]
    assert all(torch.equal(a, b) for a, b in zip(weights(full_model), weights(resumed_model), strict=True))


def test_predictions_cover_every_example() -> None:
    model, _, _, splits = train("wine", epochs=2)
    rows = predict(model, to_device(splits.test, CPU))
    assert [r["example_id"] for r in rows] == list(splits.test.ids)
    assert all(0.0 < r["confidence"] <= 1.0 and r["loss"] >= 0.0 for r in rows)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_learns(optimizer: str) -> None:
    lr = {"sgd": 0.1, "momentum": 0.05, "rmsprop": 0.003, "adam": 0.01}[optimizer]
    _, reporter, result, _ = train("wine", epochs=10, optimizer=optimizer, lr=lr, grad_clip=5.0)
    assert result.status == "succeeded" and reporter.metrics[10]["train_error"] < 0.2


@pytest.mark.parametrize("name", ["softmax", "lenet5", "resnet", "gru"])
def test_other_architectures_train_one_epoch(name: str) -> None:
    _, reporter, result, _ = train(
        epochs=1,
        train_fraction=0.2,
        model={"name": name, "blocks": 1} if name == "resnet" else {"name": name},
    )
    assert result.status == "succeeded" and "dev_error" in reporter.metrics[1]


@pytest.mark.parametrize(
    ("decay", "epoch", "expected"),
    [
        ("none", 5, 0.1),
        ("step", 11, 0.05),
        ("step", 10, 0.1),
        ("exponential", 3, 0.0125),
        ("inverse", 3, 0.04),
        ("cosine", 1, 0.1),
    ],
)
def test_learning_rate_schedules(decay: str, epoch: int, expected: float) -> None:
    hparams = Hparams(lr=0.1, lr_decay=decay, decay_rate=0.5, decay_steps=10, epochs=20)
    assert learning_rate(epoch, hparams) == pytest.approx(expected)


def test_lr_is_logged_per_epoch() -> None:
    _, reporter, _, _ = train(epochs=2, train_fraction=0.2, lr=0.01, lr_decay="exponential", decay_rate=0.5)
    assert reporter.metrics[1]["lr"] == 0.005 and reporter.metrics[2]["lr"] == 0.0025


def test_hparams_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="keep_prob"):
        Hparams(keep_prob=0.0)
    with pytest.raises(ValueError, match="optimizer"):
        Hparams.model_validate({"optimizer": "lbfgs"})


def test_resolve_device_auto_on_cpu_machine() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_batch_size_one_is_stochastic_gradient_descent_and_learns() -> None:
    # Every batch of one example used to be skipped as a "lone trailing example": the run trained nothing
    # and sat at chance for all its epochs while reporting its steps.
    model, reporter, result, _ = train(epochs=2, train_fraction=0.1, batch_size=1, lr=0.01)
    assert result.status == "succeeded"
    assert reporter.metrics[2]["train_error"] < 0.5  # chance is 0.9 on ten classes
