"""The error ladder, its four gaps, and how sure each gap is given the sizes of the splits.

Follows the ladder of Andrew Ng's basic recipe: human-level -> train -> train-dev -> dev -> test. Each step
between two rungs names one problem. An error rate measured on n examples is a binomial proportion, so a gap
between two of them carries sampling noise: on 270 dev examples one example is 0.37 points, and a gap of one
or two examples says nothing. The standard errors here say how large a gap must be before it is a signal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

GAPS = ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting")
RUNGS = ("human_level_error", "train_error", "train_dev_error", "dev_error", "test_error")
#: Two-sided 95 %: a gap counts as real when it exceeds Z times its standard error.
Z = 1.96
#: The rung each split's size belongs to.
_SPLIT_OF_RUNG = {
    "train_error": "train",
    "train_dev_error": "train_dev",
    "dev_error": "dev",
    "test_error": "test",
}


def validate_error_rate(name: str, value: float | None) -> None:
    """Raise ValueError unless ``value`` is None or a finite fraction in [0, 1]."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number or None, but got {name}={value!r}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], but got {name}={value!r}")


@dataclass(frozen=True)
class ErrorLadder:
    """Error rates (fractions in [0, 1]) of one run on each split; None where not logged."""

    human_level_error: float | None = None
    train_error: float | None = None
    train_dev_error: float | None = None
    dev_error: float | None = None
    test_error: float | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            validate_error_rate(field.name, getattr(self, field.name))


def _fraction(value: float | None) -> float | None:
    if value is None or isinstance(value, bool) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return None
    return float(value)


def ladder_from_summary(human_level_error: float | None, summary: Mapping[str, float]) -> ErrorLadder:
    """The ladder of a run from its project's human-level error and its summary metrics.

    Error keys are checked on the way in (a 422), but rows stored before that check may hold percentages:
    a value outside [0, 1] is left unknown rather than read as 800 %. (gap_order's SQL does the same.)
    """
    return ErrorLadder(
        human_level_error=_fraction(human_level_error),
        **{rung: _fraction(summary.get(rung)) for rung in RUNGS[1:]},
    )


@dataclass(frozen=True)
class SplitSizes:
    """How many examples each split's error was measured on; None where unknown."""

    train: int | None = None
    train_dev: int | None = None
    dev: int | None = None
    test: int | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            n = getattr(self, field.name)
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
                raise ValueError(
                    f"{field.name} must be a positive integer or None, but got {field.name}={n!r}"
                )

    def of(self, rung: str) -> int | None:
        """The size behind a rung of the ladder (None for human level, which is not measured on a split)."""
        split = _SPLIT_OF_RUNG.get(rung)
        return None if split is None else getattr(self, split)

    @classmethod
    def from_mapping(cls, sizes: Mapping[str, float | int | None]) -> SplitSizes:
        """From ``{"train": 1078, ...}``; values that are not positive whole numbers are left unknown."""

        def whole(value: float | int | None) -> int | None:
            if value is None or isinstance(value, bool) or not math.isfinite(value) or value < 1:
                return None
            return int(value) if value == int(value) else None

        return cls(**{f.name: whole(sizes.get(f.name)) for f in fields(cls)})


def rungs_of_gap(gap: str, ladder: ErrorLadder) -> tuple[str, str]:
    """The (lower, higher) rungs a gap spans: without a train-dev error, variance spans train -> dev."""
    if gap == "avoidable_bias":
        return "human_level_error", "train_error"
    if gap == "variance":
        return "train_error", "dev_error" if ladder.train_dev_error is None else "train_dev_error"
    if gap == "data_mismatch":
        return "train_dev_error", "dev_error"
    if gap == "dev_overfitting":
        return "dev_error", "test_error"
    raise ValueError(f"gap must be one of {GAPS}, but got {gap=}")


def bayes_proxy(ladder: ErrorLadder) -> tuple[float | None, bool]:
    """The error avoidable bias is measured from, and whether it was assumed.

    Human-level error when the project has one; otherwise Bayes error taken as 0, the course's default
    (its first bias/variance lesson reads train 15 % / dev 16 % as high bias), so avoidable bias is then
    the train error itself, an upper bound.
    """
    if ladder.human_level_error is not None:
        return ladder.human_level_error, False
    return 0.0, True


def _difference(high: float | None, low: float | None) -> float | None:
    # Rounding drops float noise (0.08 - 0.01 = 0.07000000000000001) without hiding real differences.
    return None if high is None or low is None else round(high - low, 12)


def compute_gaps(ladder: ErrorLadder) -> dict[str, float | None]:
    """The four gaps of API.md; None for a gap whose two rungs are not both known."""
    reference, _ = bayes_proxy(ladder)
    gaps: dict[str, float | None] = {}
    for gap in GAPS:
        low, high = rungs_of_gap(gap, ladder)
        low_value = reference if low == "human_level_error" else getattr(ladder, low)
        gaps[gap] = _difference(getattr(ladder, high), low_value)
    return gaps


def rate_variance(error: float, n: int) -> float:
    """Sampling variance of an error rate measured on ``n`` examples.

    Agresti-Coull: two errors and two successes are added before taking p(1 - p) / n, so that an error of
    0 on n examples is not read as exact (0 / 270 is compatible with a true error near 1 %).
    """
    p = (error * n + 2.0) / (n + 4.0)
    return p * (1.0 - p) / (n + 4.0)


def rung_standard_error(rung: str, ladder: ErrorLadder, sizes: SplitSizes) -> float | None:
    """Standard error of one rung's error rate; None for human level and where the size is unknown."""
    error, n = getattr(ladder, rung), sizes.of(rung)
    return None if error is None or n is None else math.sqrt(rate_variance(error, n))


def gap_standard_error(gap: str, ladder: ErrorLadder, sizes: SplitSizes) -> float | None:
    """Standard error of one gap from the binomial noise of its two rungs; None when a size is unknown.

    The rungs are measured on different examples, so their variances add. Human-level error is a reference
    the user sets (or 0), not a sample, and adds none.
    """
    rungs = rungs_of_gap(gap, ladder)
    variance = 0.0
    for rung in rungs:
        if rung == "human_level_error":
            continue
        error, n = getattr(ladder, rung), sizes.of(rung)
        if error is None or n is None:
            return None
        variance += rate_variance(error, n)
    return math.sqrt(variance)


def significance(
    gaps: Mapping[str, float | None], standard_errors: Mapping[str, float | None]
) -> dict[str, bool | None]:
    """Per gap: True when it exceeds Z standard errors, False when noise explains it, None when unknown."""
    result: dict[str, bool | None] = {}
    for gap in GAPS:
        value, se = gaps[gap], standard_errors[gap]
        result[gap] = None if value is None or se is None else value > Z * se
    return result


def ranked_gaps(gaps: Mapping[str, float | None], significant: Mapping[str, bool | None]) -> list[str]:
    """The gaps worth acting on, largest first (recipe order on ties).

    A gap counts when it is positive and noise does not explain it; without split sizes its noise is
    unknown, and any positive gap counts (no fixed threshold stands in for the missing sizes).
    """
    named = [g for g in GAPS if (v := gaps[g]) is not None and v > 0 and significant[g] is not False]
    return sorted(named, key=lambda g: -(gaps[g] or 0.0))  # stable: ties keep GAPS order


def primary_gap(ladder: ErrorLadder, ranked: list[str]) -> str:
    """API.md's ``primary``: unknown without train and dev errors, else the largest real gap, or none."""
    if ladder.train_error is None or ladder.dev_error is None:
        return "unknown"
    return ranked[0] if ranked else "none"
