"""The Lightning logger on a real Trainer: a small MLP learns two noisy Gaussian blobs on CPU in seconds, and
the run it logs has the canonical keys, a ladder, the module's hyperparameters, predictions and its status."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import torch

pytest.importorskip("lightning")

from lightning.pytorch import LightningModule, Trainer  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from trainboard.client import Client  # noqa: E402
from trainboard.integrations.lightning import TrainboardCallback, TrainboardLogger  # noqa: E402


def blobs(n: int, seed: int) -> TensorDataset:
    """Two overlapping Gaussian blobs in 2-D: a few epochs learn them, and some examples stay wrong."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    points = torch.randn(n, 2, generator=generator) + (labels[:, None] * 2.0 - 1.0) * 1.2
    return TensorDataset(points, labels)


class Classifier(LightningModule):
    def __init__(self, hidden: int = 16, lr: float = 0.05, fail_at_epoch: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 2) logits

    def _scores(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self(x)
        return nn.functional.cross_entropy(logits, y), (logits.argmax(-1) == y).float().mean()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.hparams.fail_at_epoch == self.current_epoch:
            raise RuntimeError(f"data loader broke in epoch {self.current_epoch}")
        loss, acc = self._scores(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        self.log("train_acc", acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, acc = self._scores(batch)
        self.log("val_loss", loss)
        self.log("val_acc", acc)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.log("test_acc", self._scores(batch)[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def trainer(tmp_path: Path, logger: TrainboardLogger, **options: object) -> Trainer:
    return Trainer(
        max_epochs=3,
        logger=logger,
        accelerator="cpu",
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        **options,  # type: ignore[arg-type]
    )


def steps(api: httpx.Client, run_id: int, key: str) -> list[int]:
    response = api.get(f"/runs/{run_id}/metrics/{key}")
    assert response.status_code == 200, f"{key}: {response.text}"
    return [step for step, _ in response.json()["points"]]


def test_a_lightning_run_gets_canonical_keys_a_ladder_params_and_predictions(
    tmp_path: Path, api: httpx.Client, tb_client: Client
) -> None:
    torch.manual_seed(0)
    train = DataLoader(blobs(256, seed=1), batch_size=32, shuffle=True)
    dev = DataLoader(blobs(100, seed=2), batch_size=50)
    logger = TrainboardLogger(project="lightning-integration", name="blobs", client=tb_client)
    fit = trainer(
        tmp_path,
        logger,
        callbacks=[TrainboardCallback(predict=dev, example_ids=[f"d{i}" for i in range(100)])],
    )

    model = Classifier(hidden=16, lr=0.05)
    fit.fit(model, train, dev)
    fit.test(model, dataloaders=DataLoader(blobs(60, seed=3), batch_size=60))  # after fit finished the run

    run = api.get(f"/runs/{logger.version}").json()
    assert (run["status"], run["name"]) == ("succeeded", "blobs")
    assert run["params"] == {"hidden": 16, "lr": 0.05}  # from save_hyperparameters(); None left out
    summary = run["summary"]
    assert {"train_error", "train_loss", "dev_error", "dev_loss", "dev_acc", "test_error"} <= set(summary)
    assert not any(key.startswith("val_") for key in summary)
    assert summary["dev_error"] == pytest.approx(1 - summary["dev_acc"])
    # One point per epoch at step = the epoch number; the per-step loss keeps its own name and steps.
    assert steps(api, run["id"], "dev_error") == [1, 2, 3]
    assert steps(api, run["id"], "train_error") == [1, 2, 3]
    assert steps(api, run["id"], "train_loss") == [1, 2, 3]
    assert len(steps(api, run["id"], "train_loss_step")) == 3 * 8

    diagnosis = api.get(f"/runs/{run['id']}/diagnosis").json()
    assert diagnosis["train_error"] == summary["train_error"]
    assert diagnosis["dev_error"] == summary["dev_error"]
    assert diagnosis["primary"] != "unknown"

    analysis = api.get(f"/runs/{run['id']}/error-analysis", params={"split": "dev"}).json()
    assert analysis["examples"] == 100
    assert analysis["error_rate"] == pytest.approx(summary["dev_error"])  # the last epoch's model, on dev
    assert (summary["train_examples"], summary["dev_examples"]) == (256, 100)
    assert diagnosis["standard_errors"]["variance"] is not None  # the sizes give the gap its noise


def test_a_lightning_run_that_raises_is_failed_with_the_reason(
    tmp_path: Path, api: httpx.Client, tb_client: Client
) -> None:
    logger = TrainboardLogger(project="lightning-integration", client=tb_client)
    fit = trainer(tmp_path, logger)

    with pytest.raises(RuntimeError, match="data loader broke"):
        fit.fit(Classifier(fail_at_epoch=1), DataLoader(blobs(64, seed=1), batch_size=32))

    run = api.get(f"/runs/{logger.version}").json()
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: data loader broke in epoch 1"
    assert steps(api, run["id"], "train_loss") == [1]  # the epoch it finished was logged
