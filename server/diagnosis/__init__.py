"""Bias / variance diagnosis: pure maths on a ladder of error rates (numbers in, frozen dataclasses out).

- ``_ladder``: the rungs, the four gaps, their binomial standard errors and which gap is real.
- ``_health``: whether training worked at all (stuck at chance, too slow, unstable).
- ``_advice``: what to try next for each gap and for failed training, ranked and capped.
- ``_diagnose``: all of it for one run, with the sentence and the per-gap readings the pages show.
- ``_script_knobs``: the advice's knobs among the parameters of a user's own script.
"""

from server.diagnosis._advice import MAX_RECOMMENDATIONS, TRAINING, Recommendation, recommend
from server.diagnosis._diagnose import GAP_NAMES, Diagnosis, diagnose
from server.diagnosis._health import TrainingCurves, TrainingHealth, assess_training, chance_error
from server.diagnosis._ladder import (
    GAPS,
    RUNGS,
    ErrorLadder,
    SplitSizes,
    Z,
    bayes_proxy,
    compute_gaps,
    gap_standard_error,
    ladder_from_summary,
    rate_variance,
    rungs_of_gap,
    validate_error_rate,
)
from server.diagnosis._script_knobs import ScriptKnobs, script_knobs

__all__ = [
    "GAPS",
    "GAP_NAMES",
    "MAX_RECOMMENDATIONS",
    "RUNGS",
    "ScriptKnobs",
    "TRAINING",
    "Z",
    "Diagnosis",
    "ErrorLadder",
    "Recommendation",
    "SplitSizes",
    "TrainingCurves",
    "TrainingHealth",
    "assess_training",
    "bayes_proxy",
    "chance_error",
    "compute_gaps",
    "diagnose",
    "gap_standard_error",
    "ladder_from_summary",
    "rate_variance",
    "recommend",
    "rungs_of_gap",
    "script_knobs",
    "validate_error_rate",
]
