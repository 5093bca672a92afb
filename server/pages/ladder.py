"""The error ladder as the pages show it: rungs, labelled gaps with their noise, the summary and the actions.

Every number here comes from the diagnosis (server/diagnosis): this module only shapes it for the templates
and for the chart's JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.diagnosis import GAPS, TRAINING, Diagnosis, ErrorLadder, Z, rungs_of_gap
from server.diagnosis import RUNGS as RUNG_KEYS
from server.services.analysis import GroupLadder

RUNGS = (
    ("human_level_error", "human-level"),
    ("train_error", "train"),
    ("train_dev_error", "train-dev"),
    ("dev_error", "dev"),
    ("test_error", "test"),
)
GAP_LABELS = {
    "avoidable_bias": "Avoidable bias",
    "variance": "Variance",
    "data_mismatch": "Data mismatch",
    "dev_overfitting": "Dev overfitting",
    TRAINING: "Training",
}
TRAINING_LABELS = {
    "not_learning": "Did not learn",
    "learning_slowly": "Learning too slowly",
    "unstable": "Unstable training",
}


@dataclass(frozen=True)
class Rung:
    key: str
    label: str
    value: float | None
    examples: int | None  # how many examples it was measured on
    margin: float | None  # half-width of its 95 % interval, None when the size is unknown


@dataclass(frozen=True)
class Gap:
    key: str
    label: str
    value: float | None
    low: str  # the rung the gap starts from, e.g. "train_error"
    high: str
    between: str  # "train → train-dev"
    primary: bool
    margin: float | None  # half-width of the 95 % noise band (Z standard errors), None when unknown
    significant: bool | None
    reading: str  # "within noise (± 2.4 points on 270 dev and 1,078 train examples)"


@dataclass(frozen=True)
class Action:
    """One recommendation; with a path, a "Try next" form that clones the run with that change."""

    gap: str
    gap_label: str
    text: str
    path: str | None
    value_json: str
    label: str


@dataclass(frozen=True)
class SpreadRow:
    """One rung or gap over a seed group: mean and sample std, in fractions."""

    key: str
    label: str
    mean: float
    std: float | None
    n: int


@dataclass(frozen=True)
class GroupSpread:
    group: str
    runs: int
    rows: list[SpreadRow]


@dataclass(frozen=True)
class LadderView:
    summary: str
    primary: str
    human_known: bool
    human_assumed: bool
    step: int | None
    best_epoch_kept: bool  # the ladder's epoch is the one whose weights the run kept
    training_status: str
    training_label: str | None
    notes: list[str]
    rungs: list[Rung]
    gaps: list[Gap]
    actions: list[Action]
    chart: dict[str, Any]
    group: GroupSpread | None = None


def _group_spread(group: GroupLadder | None) -> GroupSpread | None:
    if group is None:
        return None
    labels = {**{key: f"{label} error" for key, label in RUNGS}, **GAP_LABELS}
    rows = [SpreadRow(key, labels[key], s.mean, s.std, s.n) for key, s in group.stats.items()]
    return GroupSpread(group.group, group.runs, rows)


def _gap(key: str, diagnosis: Diagnosis, labels: dict[str, str]) -> Gap:
    low, high = rungs_of_gap(key, ErrorLadder(**{rung: getattr(diagnosis, rung) for rung in RUNG_KEYS}))
    se = diagnosis.standard_errors.get(key)
    return Gap(
        key=key,
        label=GAP_LABELS[key],
        value=getattr(diagnosis, key),
        low=low,
        high=high,
        between=f"{labels[low]} → {labels[high]}",
        primary=key == diagnosis.primary,
        margin=None if se is None else Z * se,
        significant=diagnosis.significant.get(key),
        reading=diagnosis.readings.get(key, ""),
    )


def ladder_view(diagnosis: Diagnosis, group: GroupLadder | None = None) -> LadderView:
    """What the run and compare pages show of a diagnosis (and of the run's seed group, when it has one),
    and the JSON its chart is drawn from."""
    labels = dict(RUNGS)
    sizes = diagnosis.split_sizes
    split_of = {
        "train_error": "train",
        "train_dev_error": "train_dev",
        "dev_error": "dev",
        "test_error": "test",
    }
    rungs = []
    for key, label in RUNGS:
        value, se = getattr(diagnosis, key), diagnosis.rung_standard_errors.get(key)
        if key == "human_level_error" and diagnosis.human_level_assumed:
            value, label = 0.0, "Bayes (0, assumed)"
        rungs.append(
            Rung(key, label, value, sizes.get(split_of.get(key, "")), None if se is None else Z * se)
        )
    gaps = [_gap(key, diagnosis, labels) for key in GAPS]
    actions = [
        Action(r.gap, GAP_LABELS[r.gap], r.text, r.path, json.dumps(r.value), r.label or r.text)
        for r in diagnosis.recommendations
    ]
    chart = {
        "rungs": [vars(r) for r in rungs],
        "gaps": [vars(g) for g in gaps],
        "primary": diagnosis.primary,
        "human_assumed": diagnosis.human_level_assumed,
    }
    status = diagnosis.training.status
    return LadderView(
        summary=diagnosis.summary,
        primary=diagnosis.primary,
        human_known=diagnosis.human_level_error is not None,
        human_assumed=diagnosis.human_level_assumed,
        step=diagnosis.step,
        best_epoch_kept=diagnosis.best_epoch is not None and diagnosis.best_epoch == diagnosis.step,
        training_status=status,
        training_label=TRAINING_LABELS.get(status),
        notes=list(diagnosis.notes),
        rungs=rungs,
        gaps=gaps,
        actions=actions,
        chart=chart,
        group=_group_spread(group),
    )
