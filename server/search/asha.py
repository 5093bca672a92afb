"""Asynchronous successive halving (ASHA): stop a trial at a rung unless it is in the top 1/eta there.

Rungs sit at min_epochs * eta**k epochs. A trial that reaches a rung is compared with every trial that has
reached the same rung so far (itself included); it continues only if its dev error ranks in the top
max(1, n // eta). Decisions are final and need no waiting for the other trials: that is what makes it
asynchronous (Li et al., 2020, "A System for Massively Parallel Hyperparameter Tuning").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop a trial now and, if so, the one-line reason shown on the run."""

    stop: bool
    reason: str | None = None


CONTINUE = StopDecision(stop=False)


@dataclass(frozen=True)
class AshaRule:
    """ASHA over dev error (lower is better)."""

    min_epochs: int = 1
    eta: int = 3

    def __post_init__(self) -> None:
        if self.min_epochs < 1:
            raise ValueError(f"min_epochs must be at least 1, but got min_epochs={self.min_epochs}")
        if self.eta < 2:
            raise ValueError(f"eta must be at least 2, but got eta={self.eta}")

    def rungs(self, max_epochs: int) -> list[int]:
        """The rung epochs before the last epoch (no decision is needed at the end of training)."""
        epochs, rung = [], self.min_epochs
        while rung < max_epochs:
            epochs.append(rung)
            rung *= self.eta
        return epochs

    def rung_index(self, epoch: int) -> int | None:
        """k when `epoch` is min_epochs * eta**k, else None."""
        if epoch < self.min_epochs or epoch % self.min_epochs:
            return None
        ratio, k = epoch // self.min_epochs, 0
        while ratio > 1:
            if ratio % self.eta:
                return None
            ratio, k = ratio // self.eta, k + 1
        return k

    def decide(
        self, epoch: int, value: float, rung_values: Sequence[float], *, max_epochs: int | None = None
    ) -> StopDecision:
        """Decide for a trial that reported `value` at `epoch`.

        Args:
            epoch: the epoch just reported.
            value: the trial's dev error at that epoch.
            rung_values: the dev error at `epoch` of every trial that reached it, this one included.
            max_epochs: the epochs the trial trains for (R in Li et al.); none of its last epoch or later is a
                rung, since a trial that has trained them all has nothing left to save.
        """
        if max_epochs is not None and epoch >= max_epochs:
            # Without this, a rung that falls on the last epoch (27 of 27 with eta=3) would mark a trial
            # that trained to the end as "stopped early".
            return CONTINUE
        k = self.rung_index(epoch)
        if k is None or not math.isfinite(value):
            return CONTINUE
        ranked = sorted(v for v in rung_values if math.isfinite(v))
        if not ranked:
            return CONTINUE
        n_top = max(1, len(ranked) // self.eta)
        if value <= ranked[n_top - 1]:
            return CONTINUE
        return StopDecision(
            stop=True,
            reason=(
                f"stopped early by ASHA at epoch {epoch}: dev error {value:.3g} was not in the top "
                f"1/{self.eta} of rung {k} ({n_top} of {len(ranked)} trials continue)"
            ),
        )
