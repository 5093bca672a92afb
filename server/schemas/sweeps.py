"""Hyperparameter sweeps: space, early stopping, trials, summaries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from models.config import RunConfig
from server.schemas.common import Id, JsonObject, NoNul, Page, RunStatus, UTCDatetime
from server.schemas.projects import SatisficingConstraint

SweepStatus = Literal["running", "paused", "cancelled", "finished"]
SweepStrategy = Literal["random", "grid", "coarse_to_fine"]
#: zoo: the workers train built-in models; script: `trainboard agent` runs the user's own command per trial.
SweepTarget = Literal["zoo", "script"]


class EarlyStopping(BaseModel):
    """Stop hopeless trials on their dev error: ASHA (`min_epochs`, `eta`) or the median rule (a trial whose
    best dev error so far is worse than the median of the completed trials' best by the same epoch)."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["asha", "median"] = Field(default="asha", description="asha or median.")
    min_epochs: int = Field(default=1, ge=1, le=1000, description="ASHA: epochs before the first rung.")
    eta: int = Field(default=3, ge=2, le=10, description="ASHA: keep the top 1/eta at each rung.")
    n_warmup_epochs: int = Field(default=1, ge=0, le=1000, description="Median: epochs before any stop.")
    n_min_trials: int = Field(
        default=3, ge=1, le=1000, description="Median: completed trials at the epoch needed before any stop."
    )


class SweepCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: Id
    name: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    target: SweepTarget = Field(
        default="zoo",
        description="zoo: trials are built-in models queued to the workers. script: trials are handed to "
        "`trainboard agent` (POST /sweeps/{id}/next), which runs your own command with run.config set.",
    )
    base_config: RunConfig = Field(default_factory=RunConfig)
    space: JsonObject = Field(
        description='Dotted config path -> distribution, e.g. {"hparams.lr": {"log_uniform": [1e-4, 1e-1]}}; '
        'for a script sweep any dotted parameter name, e.g. {"optimizer.lr": {"log_uniform": [1e-4, 1e-1]}}.'
    )
    strategy: SweepStrategy = "random"
    trials: int | None = Field(
        default=None, ge=1, le=10_000, description="Trial budget (default 20; grid: the whole grid)."
    )
    parallelism: int = Field(default=1, ge=1, le=256, description="Trials running at once.")
    early_stopping: EarlyStopping | None = None
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class SweepZoom(BaseModel):
    """Coarse to fine: a new sweep whose ranges shrink around the best `top_k` trials of this one."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    top_k: int = Field(default=3, ge=1, le=100)
    trials: int | None = Field(default=None, ge=1, le=10_000)
    parallelism: int | None = Field(default=None, ge=1, le=256)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class SweepPreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    distribution: JsonObject
    n: int = Field(default=30, ge=1, le=1000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class SweepPreview(BaseModel):
    values: list[Any]
    scale: str


class SweepCounts(BaseModel):
    total: int
    done: int
    running: int
    queued: int
    stopped_early: int
    failed: int
    remaining: int


class SweepTrial(BaseModel):
    id: int
    name: str
    status: RunStatus
    stopped_early: bool
    params: dict[str, Any]
    summary: dict[str, float]
    progress: dict[str, Any] | None
    error: str | None
    created_at: UTCDatetime
    started_at: UTCDatetime | None
    finished_at: UTCDatetime | None


class ParameterImportance(BaseModel):
    path: str
    importance: float


class SweepSummary(BaseModel):
    id: int
    project_id: int
    parent_id: int | None
    name: str
    status: SweepStatus
    strategy: SweepStrategy
    target: SweepTarget = "zoo"
    trial_budget: int
    parallelism: int
    created_at: UTCDatetime
    finished_at: UTCDatetime | None
    counts: SweepCounts


class SweepRead(SweepSummary):
    handed_out: int = Field(default=0, description="Script sweeps: trials handed to agents so far.")
    parent_run_id: int | None = Field(
        default=None, description="The run a try-next or repeat-with-seeds sweep copies (its trials' parent)."
    )
    trial_group: str | None = Field(default=None, description="The seed group its trials join.")
    base_config: dict[str, Any]
    space: dict[str, Any]
    scales: dict[str, str]
    early_stopping: EarlyStopping | None
    seed: int
    optimizing_metric: str
    satisficing: list[SatisficingConstraint]
    trials: list[SweepTrial]
    best_run_id: int | None
    best_value: float | None
    best_margin: float | None = Field(
        default=None,
        description="Half-width of the best value's 95 % interval (error metrics with a logged split size).",
    )
    tied_run_ids: list[int] = Field(
        default_factory=list, description="Feasible trials within noise of the best: on this dev set, a tie."
    )
    excluded: dict[int, str] = Field(description="Trials left out of the best, and why.")
    importance: list[ParameterImportance]


class SweepsPage(Page):
    items: list[SweepSummary]
