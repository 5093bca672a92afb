"""The error ladder as the pages show it: rungs, labelled gaps, the summary and the "try next" actions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.diagnosis import Diagnosis

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
}


@dataclass(frozen=True)
class Rung:
    key: str
    label: str
    value: float | None


@dataclass(frozen=True)
class Gap:
    key: str
    label: str
    value: float | None
    low: str  # the rung the gap starts from, e.g. "train_error"
    high: str
    between: str  # "train → train-dev"
    primary: bool


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
class LadderView:
    summary: str
    primary: str
    human_known: bool
    rungs: list[Rung]
    gaps: list[Gap]
    actions: list[Action]
    chart: dict[str, Any]


def _rungs_of_gap(key: str, diagnosis: Diagnosis) -> tuple[str, str]:
    if key == "avoidable_bias":
        return "human_level_error", "train_error"
    if key == "variance":
        return "train_error", "dev_error" if diagnosis.train_dev_error is None else "train_dev_error"
    if key == "data_mismatch":
        return "train_dev_error", "dev_error"
    return "dev_error", "test_error"


def ladder_view(diagnosis: Diagnosis) -> LadderView:
    """What the run and compare pages show of a diagnosis, and the JSON its chart is drawn from."""
    labels = dict(RUNGS)
    rungs = [Rung(key, label, getattr(diagnosis, key)) for key, label in RUNGS]
    gaps = []
    for key, label in GAP_LABELS.items():
        low, high = _rungs_of_gap(key, diagnosis)
        gaps.append(
            Gap(
                key=key,
                label=label,
                value=getattr(diagnosis, key),
                low=low,
                high=high,
                between=f"{labels[low]} → {labels[high]}",
                primary=key == diagnosis.primary,
            )
        )
    actions, seen = [], set()
    for r in diagnosis.recommendations:
        if r.text in seen:  # generic advice ("search hyperparameters") repeats under several gaps
            continue
        seen.add(r.text)
        actions.append(
            Action(r.gap, GAP_LABELS[r.gap], r.text, r.path, json.dumps(r.value), r.label or r.text)
        )
    chart = {
        "rungs": [vars(r) for r in rungs],
        "gaps": [vars(g) for g in gaps],
        "primary": diagnosis.primary,
    }
    return LadderView(
        summary=diagnosis.summary,
        primary=diagnosis.primary,
        human_known=diagnosis.human_level_error is not None,
        rungs=rungs,
        gaps=gaps,
        actions=actions,
        chart=chart,
    )
