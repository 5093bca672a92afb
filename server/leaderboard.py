"""Leaderboard: rank runs by one optimizing metric among those that meet every satisficing constraint.

Pure maths (STYLE habit 3). The constraint semantics and the metric direction are the sweeps' own
(server.search.best), so a sweep's best trial and the project leaderboard's first place always agree.
A run that breaks a constraint, or has not logged a metric a constraint needs, is listed unranked with why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from server.search.best import Constraint, is_maximized, unmet

__all__ = ["Constraint", "Standing", "constraint_from_dict", "describe", "is_maximized", "rank_runs"]


def constraint_from_dict(data: Mapping[str, object]) -> Constraint:
    """From the project's stored shape, ``{"metric", "max"}`` or ``{"metric", "min"}``."""
    return Constraint(metric=str(data.get("metric", "")), max=_bound(data, "max"), min=_bound(data, "min"))


def _bound(data: Mapping[str, object], key: str) -> float | None:
    value = data.get(key)
    if value is None or isinstance(value, int | float):
        return value
    raise ValueError(f"a constraint's {key} must be a number, but got {key}={value!r}")


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1000 else f"{value:g}"


def describe(constraint: Constraint) -> str:
    """ "latency_ms_b1 ≤ 10", "param_count ≤ 1,000,000"."""
    if constraint.max is not None:
        return f"{constraint.metric} ≤ {_number(constraint.max)}"
    assert constraint.min is not None  # a Constraint holds exactly one of max and min
    return f"{constraint.metric} ≥ {_number(constraint.min)}"


@dataclass(frozen=True)
class Standing:
    """One run on the leaderboard: its rank (None when not eligible) and the constraints it breaks."""

    run_id: int
    value: float | None
    rank: int | None
    broken: tuple[str, ...]

    @property
    def eligible(self) -> bool:
        return self.rank is not None


def rank_runs(
    runs: Iterable[tuple[int, Mapping[str, float]]],
    *,
    metric: str,
    constraints: Sequence[Constraint] = (),
    maximize: bool | None = None,
) -> tuple[Standing, ...]:
    """Rank runs by ``metric`` among those meeting every constraint; the others follow, unranked.

    Args:
        runs: ``(run_id, metrics)`` pairs, ``metrics`` mapping each logged metric to its latest value.
        metric: The optimizing metric.
        constraints: Satisficing constraints; a run must meet all of them to be ranked.
        maximize: Direction of ``metric``; by default :func:`is_maximized` decides (errors are minimised).

    Returns:
        Eligible runs best first with ranks 1, 2, ...; then the others best first with ``rank=None``
        and ``broken`` naming each unmet constraint. A run without a finite ``metric`` comes last.
        Ties keep the lower run id first.
    """
    if not metric:
        raise ValueError(f"metric must be a non-empty name, but got {metric=}")
    sign = -1.0 if (is_maximized(metric) if maximize is None else maximize) else 1.0
    scored = []
    for run_id, metrics in runs:
        value = metrics.get(metric)
        value = value if value is not None and math.isfinite(value) else None
        scored.append((run_id, value, tuple(unmet(metrics, metric=metric, constraints=constraints))))
    scored.sort(key=lambda s: (s[1] is None, sign * s[1] if s[1] is not None else 0.0, s[0]))
    eligible = [s for s in scored if not s[2]]
    others = [s for s in scored if s[2]]
    ranked = [Standing(run_id, value, rank, ()) for rank, (run_id, value, _) in enumerate(eligible, start=1)]
    return tuple(ranked + [Standing(run_id, value, None, broken) for run_id, value, broken in others])
