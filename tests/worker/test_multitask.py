"""Multi-task training: K sigmoid outputs, the course's loss over labelled entries only, per-task errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.worker.test_train import train
from trainboard.datasets import DATASETS, DIGIT_TASKS, keep_task, load_splits
from worker.train import batch_loss

TASKS = DATASETS["digits-tasks"].tasks


def test_the_loss_sums_each_tasks_logistic_loss_over_labelled_entries_only() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    y = torch.tensor([[1, -1, 0], [-1, -1, 1]])
    by_hand = (
        F.softplus(torch.tensor(-2.0))  # task 0, label 1
        + F.softplus(torch.tensor(0.5))  # task 2, label 0
        + F.softplus(torch.tensor(2.0))  # example 2, task 2, label 1
    ) / 2  # averaged over the two examples
    assert batch_loss(logits, y).item() == pytest.approx(by_hand.item())
    # A missing label's logit gets no gradient at all.
    logits.requires_grad_(True)
    batch_loss(logits, y).backward()
    assert logits.grad is not None
    assert logits.grad[0, 1] == 0 and logits.grad[1, 0] == 0 and logits.grad[1, 1] == 0


def test_the_demo_dataset_has_missing_labels_in_every_task() -> None:
    splits = load_splits("digits-tasks")
    assert splits.train.y.shape == (len(splits.train), 4)
    missing = (splits.train.y == -1).mean(axis=0)
    assert all(0.25 < share < 0.45 for share in missing)
    assert set(splits.train.y.ravel().tolist()) == {-1, 0, 1}
    assert list(DIGIT_TASKS) == list(TASKS)


def test_a_multi_task_run_logs_each_tasks_errors_and_learns_them_all() -> None:
    net, reporter, result, splits = train("digits-tasks", epochs=8)
    assert result.status == "succeeded"
    assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 4)  # one logit per task
    last = reporter.metrics[8]
    for task in TASKS:
        assert last[f"{task}/dev_error"] < 0.12, task
        assert {f"{task}/train_error", f"{task}/train_dev_error", f"{task}/test_error"} <= set(last)
        labelled = int((splits.dev.y[:, TASKS.index(task)] >= 0).sum())
        assert reporter.metrics[0][f"{task}/dev_examples"] == labelled
    # The overall error is over every labelled entry of every task.
    labelled = (splits.dev.y >= 0).sum(axis=0)
    overall = sum(last[f"{t}/dev_error"] * n for t, n in zip(TASKS, labelled, strict=True)) / labelled.sum()
    assert last["dev_error"] == pytest.approx(overall)


def test_a_single_task_run_trains_on_that_tasks_labels_alone() -> None:
    splits = keep_task(load_splits("digits-tasks"), "loop")
    column = TASKS.index("loop")
    assert (splits.train.y[:, [i for i in range(4) if i != column]] == -1).all()
    assert (splits.train.y[:, column] == load_splits("digits-tasks").train.y[:, column]).all()
    with pytest.raises(ValueError, match="task must be one of"):
        keep_task(splits, "odd")
