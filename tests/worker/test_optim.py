"""Learning-rate decay against the deep-learning course's tables (epoch_num counts from 1)."""

from __future__ import annotations

import pytest

from models.config import Hparams
from worker.optim import learning_rate


@pytest.mark.parametrize(
    ("hparams", "rates"),
    [
        # The course's inverse-time table: alpha0 = 0.2, decay_rate = 1.
        ({"lr": 0.2, "lr_decay": "inverse", "decay_rate": 1.0}, [0.1, 0.0667, 0.05, 0.04]),
        # Left blank, inverse decay takes the course's decay_rate 1: the same table.
        ({"lr": 0.2, "lr_decay": "inverse"}, [0.1, 0.0667, 0.05, 0.04]),
        # A rate the user sets is kept: 0.2 / (1 + 0.5 * epoch_num).
        ({"lr": 0.2, "lr_decay": "inverse", "decay_rate": 0.5}, [0.1333, 0.1, 0.08, 0.0667]),
        # Exponential decay, the course's 0.95 ** epoch_num * alpha0, is the default rate.
        ({"lr": 0.2, "lr_decay": "exponential"}, [0.19, 0.1805, 0.1715, 0.1629]),
        ({"lr": 0.2, "lr_decay": "exponential", "decay_rate": 0.5}, [0.1, 0.05, 0.025, 0.0125]),
        # Step decay halves by default, after every decay_steps epochs at one rate.
        ({"lr": 0.2, "lr_decay": "step", "decay_steps": 2}, [0.2, 0.2, 0.1, 0.1]),
        ({"lr": 0.2, "lr_decay": "none", "decay_rate": 3.0}, [0.2, 0.2, 0.2, 0.2]),
    ],
)
def test_learning_rate_follows_the_course_table(hparams: dict, rates: list[float]) -> None:  # type: ignore[type-arg]
    config = Hparams.model_validate(hparams)
    assert [learning_rate(epoch, config) for epoch in (1, 2, 3, 4)] == pytest.approx(rates, abs=5e-5)


@pytest.mark.parametrize(
    ("lr_decay", "rate"),
    [("inverse", 1.0), ("exponential", 0.95), ("step", 0.5), ("none", None), ("cosine", None)],
)
def test_a_blank_decay_rate_is_the_schedules_own(lr_decay: str, rate: float | None) -> None:
    assert Hparams(lr_decay=lr_decay).effective_decay_rate() == rate
    assert Hparams(lr_decay=lr_decay, decay_rate=0.3).effective_decay_rate() == (
        None if rate is None else 0.3
    )


def test_step_decay_counts_whole_blocks_of_decay_steps() -> None:
    config = Hparams(lr=1.0, lr_decay="step", decay_steps=10)
    assert [learning_rate(epoch, config) for epoch in (1, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_learning_rate_refuses_epoch_zero() -> None:
    with pytest.raises(ValueError, match="epoch counts from 1"):
        learning_rate(0, Hparams())
