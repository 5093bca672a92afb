"""Pydantic schemas: one family per resource, shared by the API, the forms, the worker and the client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

RunStatus = Literal["queued", "running", "succeeded", "failed", "diverged", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "diverged", "cancelled"})
Split = Literal["train", "train_dev", "dev", "test"]
MetricKey = Annotated[str, Field(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-/:]+$")]
Label = int | Annotated[str, Field(min_length=1, max_length=200)]


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every time we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UTCDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class Page(BaseModel):
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------- projects


class SatisficingConstraint(BaseModel):
    """A metric that must stay at or under `max` (or at or over `min`) for a run to count."""

    model_config = ConfigDict(extra="forbid")

    metric: MetricKey
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> SatisficingConstraint:
        if (self.max is None) == (self.min is None):
            raise ValueError("give exactly one of 'max' or 'min'")
        return self


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Unique name of the project.")
    dataset: str = Field(
        min_length=1,
        max_length=200,
        description="A built-in dataset (GET /api/v1/datasets), an uploaded one, or 'external' when your "
        "own script trains and logs.",
    )
    human_level_error: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Best error a human (or a team of experts) achieves: the proxy for Bayes error.",
    )
    optimizing_metric: MetricKey = "dev_error"
    satisficing: list[SatisficingConstraint] = Field(default_factory=list)
    description: str = Field(default="", max_length=5000)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    human_level_error: float | None = Field(default=None, ge=0, le=1)
    optimizing_metric: MetricKey | None = None
    satisficing: list[SatisficingConstraint] | None = None
    description: str | None = Field(default=None, max_length=5000)


class ProjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    dataset: str
    human_level_error: float | None
    optimizing_metric: str
    satisficing: list[SatisficingConstraint]
    description: str
    created_at: UTCDatetime
    run_count: int = 0


class ProjectsPage(Page):
    items: list[ProjectRead]


# ---------------------------------------------------------------- runs


class Hparams(BaseModel):
    """Training hyperparameters. Fields the user leaves out take the dataset's defaults, then these."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=30, ge=1, le=10_000, description="Passes over the training split.")
    batch_size: int = Field(
        default=64, ge=1, le=1_000_000, description="Mini-batch size (1 up to the whole set)."
    )
    lr: float = Field(default=0.001, gt=0, le=10, description="Learning rate.")
    optimizer: Literal["sgd", "momentum", "rmsprop", "adam"] = Field(default="adam", description="Optimiser.")
    beta: float = Field(default=0.9, ge=0, lt=1, description="Momentum / RMSprop decay beta.")
    beta1: float = Field(default=0.9, ge=0, lt=1, description="Adam's first-moment beta.")
    beta2: float = Field(default=0.999, ge=0, lt=1, description="Adam's second-moment beta.")
    eps: float = Field(default=1e-8, gt=0, le=1, description="Epsilon of RMSprop and Adam.")
    l2: float = Field(default=0.0, ge=0, le=10, description="L2 weight-decay lambda.")
    keep_prob: float = Field(
        default=1.0, gt=0, le=1, description="Dropout keep probability (1 = no dropout)."
    )
    seed: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Seed: the same seed repeats a CPU run exactly."
    )
    train_fraction: float = Field(default=1.0, gt=0, le=1, description="Share of the training split used.")
    lr_decay: Literal["none", "step", "exponential", "inverse", "cosine"] = Field(
        default="none", description="Learning-rate schedule over epochs."
    )
    decay_rate: float = Field(default=0.1, ge=0, le=100, description="Decay rate of the schedule.")
    decay_steps: int = Field(default=10, ge=1, le=10_000, description="Epochs between steps of 'step' decay.")
    early_stopping_patience: int | None = Field(
        default=None, ge=1, le=10_000, description="Stop after this many epochs without a better dev error."
    )
    grad_clip: float | None = Field(default=None, gt=0, le=1e6, description="Clip the gradient norm to this.")
    augment: bool = Field(default=False, description="Image augmentation: small shifts, rotations and noise.")
    normalize: bool = Field(default=True, description="Standardise inputs with train-split statistics.")
    precision: Literal["fp32", "bf16", "fp16"] = Field(default="fp32", description="Mixed precision on GPU.")


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: dict[str, Any] = Field(default_factory=dict, description="Architecture and its options.")
    hparams: Hparams = Field(default_factory=Hparams)


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: int = Field(ge=1)
    name: str | None = Field(default=None, max_length=200)
    config: RunConfig = Field(default_factory=RunConfig)
    external: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    parent_id: int | None = Field(default=None, ge=1)


class RunProgress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(ge=0)
    epochs: int = Field(ge=0)
    step: int = Field(default=0, ge=0)
    steps: int = Field(default=0, ge=0)
    examples_per_sec: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    eta_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class RunStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: str = Field(default="", max_length=200)
    device: str = Field(default="", max_length=50)


class RunFinish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["succeeded", "failed", "diverged", "cancelled"] = "succeeded"
    error: str | None = Field(default=None, max_length=2000)


class RunRead(BaseModel):
    id: int
    project_id: int
    parent_id: int | None
    name: str
    status: RunStatus
    external: bool
    dataset: str
    config: dict[str, Any]
    params: dict[str, Any]
    summary: dict[str, float]
    progress: dict[str, Any] | None
    error: str | None
    worker: str | None
    attempt: int
    created_at: UTCDatetime
    started_at: UTCDatetime | None
    finished_at: UTCDatetime | None
    heartbeat_at: UTCDatetime | None


class RunsPage(Page):
    items: list[RunRead]


class StatusRead(BaseModel):
    status: RunStatus


# ---------------------------------------------------------------- metrics


class MetricPointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: MetricKey
    step: int = Field(ge=0, le=2**62)
    value: float
    timestamp: UTCDatetime | None = None


class MetricsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricPointIn] = Field(max_length=100_000)


class Accepted(BaseModel):
    accepted: int


class MetricSeries(BaseModel):
    key: str
    points: list[tuple[int, float]]
    downsampled: bool
    total_points: int


# ---------------------------------------------------------------- predictions and errors


class PredictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    example_id: str = Field(min_length=1, max_length=200)
    label: Label
    predicted: Label
    confidence: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    loss: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class PredictionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    split: Split = "dev"
    predictions: list[PredictionIn] = Field(max_length=200_000)


class ErrorItem(BaseModel):
    example_id: str
    label: int | str
    predicted: int | str
    confidence: float | None
    loss: float | None
    tags: list[str]


class ErrorsPage(Page):
    items: list[ErrorItem]


# ---------------------------------------------------------------- tags


class TagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\s,][^,]*$")


class TagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class ExampleTagsSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[Annotated[str, Field(min_length=1, max_length=100)]]


class ExampleTagsRead(BaseModel):
    example_id: str
    tags: list[str]


class BulkTagUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    example_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=100_000
    )
    add: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    remove: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)


class BulkTagResult(BaseModel):
    examples: int
    added: int
    removed: int


# ---------------------------------------------------------------- health and datasets


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok", "down"]
    broker: Literal["ok", "down"]


class DatasetRead(BaseModel):
    name: str
    kind: str
    input_shape: list[int]
    n_classes: int
    n_examples: int
    description: str
    default_hparams: dict[str, Any]
