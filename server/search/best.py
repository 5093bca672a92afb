"""The best trial: the best optimizing metric among the trials that meet every satisficing constraint."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from server.diagnosis import Z, rate_variance
from trainboard.metric_keys import SIZE_OF_ERROR

#: Metrics where higher is better; every other metric (errors, losses, latency) is minimised.
MAXIMIZED_HINTS = ("accuracy", "acc", "f1", "auc", "precision", "recall", "throughput")


def is_maximized(metric: str) -> bool:
    """Whether a larger value of `metric` is better (accuracy, f1, ...); errors and losses are minimised."""
    words = metric.lower().replace("-", "_").replace(".", "_").split("_")
    return any(hint in words for hint in MAXIMIZED_HINTS)


@dataclass(frozen=True)
class Constraint:
    """A satisficing metric that must stay at or under `max`, or at or over `min`."""

    metric: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        if (self.max is None) == (self.min is None):
            raise ValueError(f"give exactly one of max or min, but got max={self.max} and min={self.min}")

    def broken_by(self, summary: Mapping[str, float]) -> str | None:
        """Why `summary` breaks the constraint, or None when it meets it."""
        value = summary.get(self.metric)
        if value is None or not math.isfinite(value):
            return f"{self.metric} was not logged"
        if self.max is not None and value > self.max:
            return f"{self.metric} {value:.4g} > {self.max:.4g}"
        if self.min is not None and value < self.min:
            return f"{self.metric} {value:.4g} < {self.min:.4g}"
        return None


@dataclass(frozen=True)
class TrialResult:
    """One finished trial's id and summary metrics."""

    trial_id: int
    summary: Mapping[str, float]


@dataclass(frozen=True)
class BestTrial:
    """The best trial's id (None when none qualifies) and, for the others left out, the reason.

    ``margin`` is the half-width of the best value's 95 % interval and ``tied`` the feasible trials whose
    value differs from the best by less than noise explains: ranked on one dev set, they are a tie. Both
    need an error-rate metric with its split size logged (``dev_examples`` for ``dev_error``); otherwise
    ``margin`` is None and ``tied`` empty.
    """

    best_id: int | None
    best_value: float | None
    excluded: dict[int, str]
    margin: float | None = None
    tied: tuple[int, ...] = ()


def unmet(summary: Mapping[str, float], *, metric: str, constraints: Sequence[Constraint]) -> list[str]:
    """Why a run or trial cannot be ranked, one reason each: `metric` not logged, each constraint broken.

    The one definition of "feasible" (empty list) behind the sweeps' best trial, zoom-in and the project
    leaderboard."""
    reasons = [reason for c in constraints if (reason := c.broken_by(summary)) is not None]
    value = summary.get(metric)
    if value is None or not math.isfinite(value):
        reasons.insert(0, f"{metric} was not logged")
    return list(dict.fromkeys(reasons))


def why_excluded(trial: TrialResult, *, metric: str, constraints: Sequence[Constraint]) -> str | None:
    """Why `trial` cannot be ranked (`metric` not logged, a constraint broken); None when it is feasible."""
    reasons = unmet(trial.summary, metric=metric, constraints=constraints)
    return "; ".join(reasons) if reasons else None


def feasible_trials(
    trials: Sequence[TrialResult], *, metric: str, constraints: Sequence[Constraint]
) -> list[TrialResult]:
    """The trials that logged `metric` and meet every constraint, in order: the only ones that are ranked
    (for the best trial and for zooming in)."""
    return [t for t in trials if why_excluded(t, metric=metric, constraints=constraints) is None]


def best_trial(trials: Sequence[TrialResult], *, metric: str, constraints: Sequence[Constraint]) -> BestTrial:
    """The best `metric` among trials meeting every constraint; ties go to the earlier trial."""
    maximize = is_maximized(metric)
    excluded: dict[int, str] = {}
    best: tuple[float, int] | None = None
    for trial in trials:
        reason = why_excluded(trial, metric=metric, constraints=constraints)
        if reason is not None:
            excluded[trial.trial_id] = reason
            continue
        value = trial.summary[metric]
        key = (-value if maximize else value, trial.trial_id)
        if best is None or key < best:
            best = key
    if best is None:
        return BestTrial(None, None, excluded)
    best_id = best[1]
    chosen = next(t for t in trials if t.trial_id == best_id)
    margin, tied = _noise(chosen, [t for t in trials if t.trial_id not in excluded], metric)
    return BestTrial(best_id, -best[0] if maximize else best[0], excluded, margin, tied)


def _error_and_size(trial: TrialResult, metric: str) -> tuple[float, int] | None:
    size = trial.summary.get(SIZE_OF_ERROR.get(metric, ""))
    value = trial.summary.get(metric)
    if size is None or value is None or not (math.isfinite(size) and size >= 1 and 0 <= value <= 1):
        return None
    return value, int(size)


def _noise(
    best: TrialResult, feasible: Sequence[TrialResult], metric: str
) -> tuple[float | None, tuple[int, ...]]:
    """The best value's 95 % half-width, and the feasible trials within noise of it.

    Binomial, as the ladder's gaps. Two trials scored on one dev set are correlated (they get the easy
    examples right alike), so adding their variances overstates the noise of their difference: a trial
    called tied may in truth be worse. The direction errs toward "not sure", never toward a false winner."""
    measured = _error_and_size(best, metric)
    if measured is None:
        return None, ()
    value, n = measured
    tied = []
    for trial in feasible:
        other = _error_and_size(trial, metric)
        if trial.trial_id == best.trial_id or other is None:
            continue
        se = math.sqrt(rate_variance(value, n) + rate_variance(other[0], other[1]))
        if abs(other[0] - value) <= Z * se:
            tied.append(trial.trial_id)
    return Z * math.sqrt(rate_variance(value, n)), tuple(tied)


def best_so_far(values: Sequence[float | None], *, maximize: bool = False) -> list[float | None]:
    """The running best of a sequence of objective values (None where nothing finite has been seen yet)."""
    result: list[float | None] = []
    current: float | None = None
    for value in values:
        if value is not None and math.isfinite(value):
            if current is None or (value > current if maximize else value < current):
                current = value
        result.append(current)
    return result
