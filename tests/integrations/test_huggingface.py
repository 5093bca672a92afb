"""The Hugging Face callback on a real Trainer: a tiny BERT built in code learns a synthetic task on CPU in
seconds, and the run it logs has the canonical keys, a ladder, params, predictions and its final status."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from transformers import (  # noqa: E402
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

from trainboard.client import Client  # noqa: E402
from trainboard.integrations.huggingface import TrainboardCallback  # noqa: E402

SEQ = 8


class Tokens(torch.utils.data.Dataset):
    """Sequences of tokens from one of two halves of the vocabulary, the half naming the class, with a tenth
    of the labels flipped: learnable in a dozen steps, yet never without errors to analyse."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        classes = rng.integers(0, 2, size=n)
        low, high = rng.integers(5, 27, size=(n, SEQ)), rng.integers(27, 50, size=(n, SEQ))
        self.ids = torch.tensor(np.where(classes[:, None] == 1, high, low))
        self.labels = np.where(rng.random(n) < 0.1, 1 - classes, classes)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(SEQ, dtype=torch.long),
            "labels": torch.tensor(int(self.labels[i])),
        }


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=SEQ,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def accuracy(prediction) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def arguments(tmp_path: Path, **overrides: object) -> TrainingArguments:
    options: dict[str, object] = {
        "output_dir": str(tmp_path / "out"),
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64,
        "learning_rate": 5e-3,
        "eval_strategy": "epoch",
        "logging_strategy": "epoch",
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "seed": 0,
    }
    return TrainingArguments(**(options | overrides))  # type: ignore[arg-type]


def series(api: httpx.Client, run_id: int, key: str) -> list[list[float]]:
    response = api.get(f"/runs/{run_id}/metrics/{key}")
    assert response.status_code == 200, f"{key}: {response.text}"
    return response.json()["points"]


def test_a_trainer_run_gets_canonical_keys_a_ladder_params_and_predictions(
    tmp_path: Path, api: httpx.Client, tb_client: Client
) -> None:
    train, dev = Tokens(96, seed=1), Tokens(40, seed=2)
    train_subset = torch.utils.data.Subset(train, range(48))
    trainer = Trainer(
        model=tiny_bert(),
        args=arguments(tmp_path),
        train_dataset=train,
        eval_dataset={"dev": dev, "train": train_subset},  # train error, for the ladder
        compute_metrics=accuracy,
    )
    callback = TrainboardCallback(
        project="hf-integration",
        name="tiny-bert",
        trainer=trainer,
        predict_dataset=dev,
        example_ids=[f"dev-{i}" for i in range(len(dev))],
        client=tb_client,
    )
    trainer.add_callback(callback)

    trainer.train()

    assert callback.run is not None
    run = api.get(f"/runs/{callback.run.id}").json()
    assert (run["status"], run["name"]) == ("succeeded", "tiny-bert")
    assert run["params"]["learning_rate"] == 5e-3
    assert run["params"]["per_device_train_batch_size"] == 16
    assert (run["params"]["model.model_type"], run["params"]["model.hidden_size"]) == ("bert", 16)
    assert run["params"]["model.num_parameters"] == sum(p.numel() for p in trainer.model.parameters())
    summary = run["summary"]
    assert {"train_error", "dev_error", "train_loss", "dev_loss", "lr", "dev_accuracy"} <= set(summary)
    assert not any(key.startswith("eval_") for key in summary)
    # One point per epoch at step = the epoch number, errors = 1 - accuracy.
    assert [step for step, _ in series(api, run["id"], "dev_error")] == [1, 2]
    assert [step for step, _ in series(api, run["id"], "train_loss")] == [1, 2]
    assert summary["dev_error"] == pytest.approx(1 - summary["dev_accuracy"])
    # The split sizes each error was measured on (the train error's is the evaluated subset).
    assert (summary["train_examples"], summary["dev_examples"]) == (48, 40)

    diagnosis = api.get(f"/runs/{run['id']}/diagnosis").json()
    assert diagnosis["train_error"] == summary["train_error"]
    assert diagnosis["dev_error"] == summary["dev_error"]
    assert diagnosis["primary"] != "unknown"

    analysis = api.get(f"/runs/{run['id']}/error-analysis", params={"split": "dev"}).json()
    assert analysis["examples"] == 40
    assert analysis["error_rate"] == pytest.approx(summary["dev_error"])  # the same model, the same data
    errors = api.get(f"/runs/{run['id']}/errors", params={"split": "dev", "limit": 1000}).json()
    assert {item["example_id"] for item in errors["items"]} <= {f"dev-{i}" for i in range(40)}


def test_evaluating_every_n_steps_logs_every_key_at_the_global_step(
    tmp_path: Path, api: httpx.Client, tb_client: Client
) -> None:
    callback = TrainboardCallback(project="hf-integration", client=tb_client)
    args = arguments(tmp_path, eval_strategy="steps", eval_steps=4, logging_strategy="steps", logging_steps=4)
    trainer = Trainer(
        model=tiny_bert(),
        args=args,
        train_dataset=Tokens(64, seed=3),  # 4 steps an epoch, 8 in all
        eval_dataset=Tokens(32, seed=4),
        compute_metrics=accuracy,
        callbacks=[callback],
    )

    trainer.train()
    test_metrics = trainer.predict(Tokens(24, seed=5), metric_key_prefix="test").metrics

    assert callback.run is not None
    run_id = callback.run.id
    assert [step for step, _ in series(api, run_id, "dev_error")] == [4, 8]
    assert [step for step, _ in series(api, run_id, "train_loss")] == [4, 8]
    assert [step for step, _ in series(api, run_id, "lr")] == [4, 8]
    summary = api.get(f"/runs/{run_id}").json()["summary"]
    assert summary["test_error"] == pytest.approx(1 - test_metrics["test_accuracy"])  # logged after training
    assert (summary["train_examples"], summary["dev_examples"]) == (64, 32)  # no train evaluation: the set


def test_a_trainer_that_raises_leaves_its_run_failed(
    tmp_path: Path, api: httpx.Client, server_url: str
) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from test_huggingface import Tokens, arguments, tiny_bert
            from pathlib import Path
            from transformers import Trainer, TrainerCallback
            from trainboard.client import Client
            from trainboard.integrations.huggingface import TrainboardCallback

            class Boom(TrainerCallback):
                def on_step_end(self, args, state, control, **kwargs):
                    if state.global_step == 2:
                        raise RuntimeError("loss exploded at step 2")

            client = Client({server_url!r}, token="")
            callback = TrainboardCallback(project="hf-integration", name="boom", client=client)
            trainer = Trainer(model=tiny_bert(), args=arguments(Path({str(tmp_path)!r})),
                              train_dataset=Tokens(64, seed=3), eval_dataset=Tokens(16, seed=4),
                              callbacks=[callback, Boom()])
            try:
                trainer.train()
            finally:
                print("RUN_ID", callback.run.id, flush=True)
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)

    assert done.returncode == 1, done.stderr[-2000:]
    assert "RuntimeError: loss exploded at step 2" in done.stderr, done.stderr[-3000:]
    run_id = int(done.stdout.split("RUN_ID")[1].split()[0])
    run = api.get(f"/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: loss exploded at step 2"
