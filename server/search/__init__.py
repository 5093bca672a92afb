"""Hyperparameter search maths: distributions, sampling, early-stopping rules, importance and the best trial.

Pure functions and small frozen classes: no FastAPI, SQLAlchemy, Celery or I/O (STYLE habit 3).
"""

from server.search.asha import CONTINUE, AshaRule, StopDecision
from server.search.best import (
    BestTrial,
    Constraint,
    TrialResult,
    best_so_far,
    best_trial,
    feasible_trials,
    is_maximized,
    why_excluded,
)
from server.search.distributions import (
    KINDS,
    BaseDistribution,
    ChoiceDistribution,
    IntUniformDistribution,
    InvalidSearchSpace,
    LogUniformDistribution,
    OneMinusLogUniformDistribution,
    SearchSpace,
    UniformDistribution,
    parse_distribution,
    parse_space,
)
from server.search.importance import parameter_importance
from server.search.median import MedianRule, TrialCurve
from server.search.sampling import ZoomResult, grid_points, grid_size, sample_random, suggest, zoom_space

__all__ = [
    "CONTINUE",
    "KINDS",
    "AshaRule",
    "BaseDistribution",
    "BestTrial",
    "ChoiceDistribution",
    "Constraint",
    "IntUniformDistribution",
    "InvalidSearchSpace",
    "LogUniformDistribution",
    "MedianRule",
    "OneMinusLogUniformDistribution",
    "SearchSpace",
    "StopDecision",
    "TrialCurve",
    "TrialResult",
    "UniformDistribution",
    "ZoomResult",
    "best_so_far",
    "best_trial",
    "feasible_trials",
    "grid_points",
    "grid_size",
    "is_maximized",
    "parameter_importance",
    "parse_distribution",
    "parse_space",
    "sample_random",
    "suggest",
    "why_excluded",
    "zoom_space",
]
