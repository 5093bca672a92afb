"""The median stopping rule (Golovin et al., 2017, "Google Vizier"; Optuna's MedianPruner): after a
warm-up, stop a trial at epoch s when its best value so far is worse than the median, over the completed
trials, of each one's best value by epoch s.

Taking the best so far on both sides keeps a noisy trial whose current epoch spikes but whose best is good.
Only completed trials (succeeded: they ran to their end) make the median: a running trial's curve is not yet
known to be good, and one stopped early was stopped for being bad, so either would drag the median down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from server.search.asha import CONTINUE, StopDecision
from server.search.best import is_maximized


def is_completed(status: str, *, stopped_early: bool) -> bool:
    """Whether a trial ran to its end (succeeded and not stopped early): only these make the median."""
    return status == "succeeded" and not stopped_early


def best_by(values: Mapping[int, float], epoch: int, *, maximize: bool) -> float | None:
    """The best finite value at epochs up to `epoch`, or None when there is none."""
    finite = [v for e, v in values.items() if e <= epoch and math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if maximize else min(finite)


@dataclass(frozen=True)
class TrialCurve:
    """Another trial of the sweep: its values by epoch, and how it stands."""

    values: Mapping[int, float]
    status: str = "succeeded"
    stopped_early: bool = False


@dataclass(frozen=True)
class MedianRule:
    """Median stopping on `metric` (an error is minimised; `best.is_maximized` names the maximised ones)."""

    n_warmup_epochs: int = 1
    n_min_trials: int = 3
    metric: str = "dev_error"

    def __post_init__(self) -> None:
        if self.n_warmup_epochs < 0:
            raise ValueError(
                f"n_warmup_epochs must be non-negative, but got n_warmup_epochs={self.n_warmup_epochs}"
            )
        if self.n_min_trials < 1:
            raise ValueError(f"n_min_trials must be at least 1, but got n_min_trials={self.n_min_trials}")

    def decide(self, epoch: int, values: Mapping[int, float], others: Sequence[TrialCurve]) -> StopDecision:
        """Decide for a trial that has just reported `epoch`.

        Args:
            epoch: the epoch just reported; no stop at or before `n_warmup_epochs`.
            values: this trial's values by epoch (later epochs are ignored).
            others: the sweep's other trials. Only the completed ones that reported `epoch` count, and at
                least `n_min_trials` of them are needed before any stop.
        """
        maximize = is_maximized(self.metric)
        best = best_by(values, epoch, maximize=maximize)
        if epoch <= self.n_warmup_epochs or best is None:
            return CONTINUE
        bests = [
            b
            for other in others
            if is_completed(other.status, stopped_early=other.stopped_early) and epoch in other.values
            if (b := best_by(other.values, epoch, maximize=maximize)) is not None
        ]
        if len(bests) < self.n_min_trials:
            return CONTINUE
        median = float(np.median(bests))
        if (best >= median) if maximize else (best <= median):
            return CONTINUE
        name = self.metric.replace("_", " ")
        return StopDecision(
            stop=True,
            reason=(
                f"stopped early by the median rule at epoch {epoch}: its best {name} so far, {best:.3g}, was "
                f"worse than the median {median:.3g} of {len(bests)} completed trials' best by that epoch"
            ),
        )
