"""The median stopping rule: stop a trial whose dev error is worse than the median of the others' at the same
epoch, once it is past a warm-up (Golovin et al., 2017, "Google Vizier")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from server.search.asha import CONTINUE, StopDecision


@dataclass(frozen=True)
class MedianRule:
    """Median stopping over dev error (lower is better)."""

    n_warmup_epochs: int = 1
    n_min_trials: int = 3

    def __post_init__(self) -> None:
        if self.n_warmup_epochs < 0:
            raise ValueError(
                f"n_warmup_epochs must be non-negative, but got n_warmup_epochs={self.n_warmup_epochs}"
            )
        if self.n_min_trials < 1:
            raise ValueError(f"n_min_trials must be at least 1, but got n_min_trials={self.n_min_trials}")

    def decide(self, epoch: int, value: float, others: Sequence[float]) -> StopDecision:
        """Decide for a trial with dev error `value` at `epoch`.

        Args:
            epoch: the epoch just reported.
            value: the trial's dev error at that epoch.
            others: the other trials' dev error at the same epoch (this trial excluded).
        """
        if epoch <= self.n_warmup_epochs or not math.isfinite(value):
            return CONTINUE
        finite = [v for v in others if math.isfinite(v)]
        if len(finite) < self.n_min_trials:
            return CONTINUE
        median = float(np.median(finite))
        if value <= median:
            return CONTINUE
        return StopDecision(
            stop=True,
            reason=(
                f"stopped early by the median rule at epoch {epoch}: dev error {value:.3g} was worse than "
                f"the median {median:.3g} of {len(finite)} other trials"
            ),
        )
