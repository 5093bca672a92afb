"""Pydantic schemas: one family per resource, shared by the API, the forms, the worker and the client."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from models.config import DEFAULT_DECAY_RATES as DEFAULT_DECAY_RATES
from models.config import Hparams as Hparams
from models.config import RunConfig as RunConfig
from server import ids
from trainboard.metric_keys import alias_problem
from trainboard.storable import NUL_REFUSED as NUL_REFUSED
from trainboard.storable import refuse_nul, refuse_unstorable

# ---------------------------------------------------------------- what both databases can store

#: Ids are INTEGER columns, 32-bit on PostgreSQL: a larger id is refused naming the field, before any query.
MAX_ID = ids.MAX_ID
#: Offsets and other whole numbers that reach SQL fit PostgreSQL's BIGINT.
MAX_BIGINT = 2**63 - 1
#: Marks a string (or None) that must hold no NUL: `Annotated[str | None, NoNul]`, also on query parameters.
NoNul = AfterValidator(refuse_nul)
Text = Annotated[str, NoNul]
JsonObject = Annotated[dict[str, Any], AfterValidator(refuse_unstorable)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Int64 = Annotated[int, Field(ge=-MAX_BIGINT - 1, le=MAX_BIGINT)]

RunStatus = Literal["queued", "running", "succeeded", "failed", "diverged", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "diverged", "cancelled"})
Split = Literal["train", "train_dev", "dev", "test"]
MetricKey = Annotated[str, Field(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-/:]+$")]
Label = Int64 | Annotated[str, Field(min_length=1, max_length=200), NoNul]
#: A project's optimizing metric: a metric key that fits its 100-character column.
OptimizingMetric = Annotated[MetricKey, Field(max_length=100)]


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UTCDatetime = Annotated[datetime, AfterValidator(as_utc)]
#: A time a client sends: a day inside years 1 to 9999 in any offset, so that it stays there in UTC
#: (compared in Rust, nearly free per metric point, where converting each point cost a tenth of a batch).
SentDatetime = Annotated[
    datetime,
    Field(ge=datetime(1, 1, 2, tzinfo=UTC), le=datetime(9999, 12, 30, tzinfo=UTC)),
    AfterValidator(as_utc),
]


class Page(BaseModel):
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------- projects


class SatisficingConstraint(BaseModel):
    """A metric that must stay at or under `max` (or at or over `min`) for a run to count."""

    model_config = ConfigDict(extra="forbid")

    metric: MetricKey
    max: float | None = Field(default=None, allow_inf_nan=False)
    min: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_bound(self) -> SatisficingConstraint:
        if (self.max is None) == (self.min is None):
            raise ValueError("give exactly one of 'max' or 'min'")
        return self


def _check_aliases(aliases: dict[str, str]) -> dict[str, str]:
    problems = [p for alias, key in aliases.items() if (p := alias_problem(alias, key)) is not None]
    if problems:
        raise ValueError("; ".join(problems))
    return aliases


#: A project's metric-key aliases, alias -> canonical key: points logged under an alias are stored under
#: its canonical key, so that the diagnosis works on a script's own names (e.g. val_error -> dev_error).
MetricAliases = Annotated[
    dict[MetricKey, MetricKey],
    Field(
        max_length=100,
        description="Points logged under a key named here are stored under its canonical key instead "
        "(e.g. {'val_error': 'dev_error'}), from the moment the alias is set.",
    ),
    AfterValidator(_check_aliases),
]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200, description="Unique name of the project.")
    dataset: Text = Field(
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
    optimizing_metric: OptimizingMetric = "dev_error"
    satisficing: list[SatisficingConstraint] = Field(default_factory=list)
    description: Text = Field(default="", max_length=5000)
    metric_aliases: MetricAliases = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, NoNul] = Field(default=None, min_length=1, max_length=200)
    human_level_error: float | None = Field(default=None, ge=0, le=1)
    optimizing_metric: OptimizingMetric | None = None
    satisficing: list[SatisficingConstraint] | None = None
    description: Annotated[str | None, NoNul] = Field(default=None, max_length=5000)
    metric_aliases: MetricAliases | None = None


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
    metric_aliases: dict[str, str] = Field(default_factory=dict)

    @field_validator("metric_aliases", mode="before")
    @classmethod
    def _none_is_empty(cls, value: dict[str, str] | None) -> dict[str, str]:
        return value or {}


class ProjectsPage(Page):
    items: list[ProjectRead]


# ---------------------------------------------------------------- runs


#: The name that ties runs differing only by seed (runs.group).
GroupName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
RunTag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul]
MAX_TAGS, MAX_NOTES_CHARS, MAX_ENVIRONMENT_CHARS = 50, 10_000, 20_000


def _distinct_tags(tags: list[str] | None) -> list[str] | None:
    """Each tag once, in the order first given."""
    return None if tags is None else list(dict.fromkeys(tags))


def _bounded_environment(environment: dict[str, Any] | None) -> dict[str, Any] | None:
    if environment is not None and len(json.dumps(environment, default=str)) > MAX_ENVIRONMENT_CHARS:
        raise ValueError(f"environment must take at most {MAX_ENVIRONMENT_CHARS} characters as JSON")
    return environment


Tags = Annotated[list[RunTag], Field(max_length=MAX_TAGS), AfterValidator(_distinct_tags)]
Notes = Annotated[str, Field(max_length=MAX_NOTES_CHARS), NoNul]
#: What a run really trained with (device, torch/CUDA versions, host; for scripts: git commit, argv, Python).
Environment = Annotated[JsonObject, AfterValidator(_bounded_environment)]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: Id
    name: Annotated[str | None, NoNul] = Field(default=None, max_length=200)
    config: RunConfig = Field(default_factory=RunConfig)
    external: bool = False
    params: JsonObject = Field(default_factory=dict)
    parent_id: Id | None = None
    group: GroupName | None = Field(
        default=None, description="Runs that differ only by seed share a group (mean and spread per metric)."
    )
    tags: Tags = Field(default_factory=list, description="Labels of 1-100 characters, at most 50.")
    notes: Notes = Field(default="", description="Free text about the run, at most 10,000 characters.")
    environment: Environment | None = Field(
        default=None, description="What the run trains with: git commit, argv, Python/torch/CUDA, host."
    )


class RunUpdate(BaseModel):
    """PATCH /runs/{id}: the fields a person edits after the fact (and the environment an attached script
    sends); a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul] | None
    ) = None
    notes: Notes | None = None
    tags: Tags | None = None
    environment: Environment | None = None


class RunProgress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(ge=0, le=MAX_BIGINT)
    epochs: int = Field(ge=0, le=MAX_BIGINT)
    step: int = Field(default=0, ge=0, le=MAX_BIGINT)
    steps: int = Field(default=0, ge=0, le=MAX_BIGINT)
    examples_per_sec: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    eta_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class RunStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker: Text = Field(default="", max_length=200)
    device: Text = Field(default="", max_length=50)
    replaces: Annotated[str | None, NoNul] = Field(
        default=None,
        max_length=200,
        description="A worker the caller knows is dead (same host, process gone): its claim is taken over.",
    )
    environment: Environment | None = Field(
        default=None, description="What this worker trains with: device, torch/CUDA versions, host."
    )


class RunFinish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["succeeded", "failed", "diverged", "cancelled"] = "succeeded"
    error: Annotated[str | None, NoNul] = Field(default=None, max_length=2000)
    log_tail: Annotated[str | None, NoNul] = Field(
        default=None,
        max_length=4000,
        description="The last lines the run's command wrote to stderr (trainboard agent sends them when the "
        "command crashed); kept as is, shown under the error.",
    )


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
    sweep_id: int | None = None
    stopped_early: bool = False
    group: str | None = None
    tags: list[str] = Field(default_factory=list)
    notes: str = ""
    environment: dict[str, Any] | None = None
    log_tail: str | None = None


class RunResumed(RunRead):
    """A run reopened for its script: `last_step` is the highest step it has logged (null: none yet)."""

    last_step: int | None


class RunsPage(Page):
    items: list[RunRead]
    # Pass it back as ?cursor= for the next page (keyset paging); null on the last page.
    next_cursor: str | None = None


class StatusRead(BaseModel):
    status: RunStatus


class RunClone(BaseModel):
    """A "try next" experiment: the parent's config with a few fields (dotted paths) changed."""

    model_config = ConfigDict(extra="forbid")

    changes: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=200)], Any], AfterValidator(refuse_unstorable)
    ] = Field(
        min_length=1,
        max_length=50,
        description='Dotted config paths and their new values, e.g. {"hparams.l2": 0.001}.',
    )
    name: Annotated[str | None, NoNul] = Field(default=None, max_length=200)


class RunRepeat(BaseModel):
    """ "Repeat with N seeds": copies of a run's config that differ only in hparams.seed."""

    model_config = ConfigDict(extra="forbid")

    seeds: int = Field(default=3, ge=1, le=10, description="How many copies to queue, each with a new seed.")


class RunsRepeated(BaseModel):
    group: str
    runs: list[RunRead]
    sweep_id: int | None = Field(
        default=None,
        description="A run of your own script: the copies wait in this script sweep for `trainboard agent` "
        "(runs is then empty until an agent takes them).",
    )


class GroupMetric(BaseModel):
    """One metric over a group's succeeded runs; std is the sample standard deviation (null for n = 1)."""

    mean: float
    std: float | None
    n: int


class GroupRead(BaseModel):
    group: str
    n: int = Field(description="Runs in the group, whatever their status.")
    run_ids: list[int]
    summary: dict[str, GroupMetric] = Field(description="Per metric key, over the succeeded runs only.")


class GroupsPage(Page):
    items: list[GroupRead]


# ---------------------------------------------------------------- metrics


class MetricPointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: MetricKey
    step: int = Field(ge=0, le=2**62)
    value: float
    timestamp: SentDatetime | None = None


class MetricsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricPointIn] = Field(max_length=100_000)


class Accepted(BaseModel):
    accepted: int = Field(
        description="Metrics: the points this request stored; a (key, step) already stored, or repeated "
        "in the batch, keeps its first value and is not counted. Predictions: the examples stored or "
        "replaced (one per example_id)."
    )


class MetricsAccepted(Accepted):
    should_stop: bool = Field(
        default=False,
        description="Present, and true, once the run was stopped (early stopping of a sweep trial, or a "
        "cancel): end the script.",
    )


class MetricSeries(BaseModel):
    key: str
    points: list[tuple[int, float]]
    downsampled: bool
    total_points: int


# ---------------------------------------------------------------- predictions and errors


class PredictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    example_id: Text = Field(min_length=1, max_length=200)
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

    name: Text = Field(min_length=1, max_length=100, pattern=r"^[^\s,][^,]*$")


class TagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class ExampleTagsSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[Annotated[str, Field(min_length=1, max_length=100), NoNul]]


class ExampleTagsRead(BaseModel):
    example_id: str
    tags: list[str]


class TagResolution(BaseModel):
    """A tag taken off an example because what it flagged was fixed (the example's tag history)."""

    tag: str
    resolved_by: Literal["label_correction"]
    corrected_label: str
    dataset_version: int
    note: str


class ExampleTagsDetail(ExampleTagsRead):
    history: list[TagResolution]


class BulkTagUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    example_ids: list[Annotated[str, Field(min_length=1, max_length=200), NoNul]] = Field(
        min_length=1, max_length=100_000
    )
    add: list[Annotated[str, Field(min_length=1, max_length=100), NoNul]] = Field(default_factory=list)
    remove: list[Annotated[str, Field(min_length=1, max_length=100), NoNul]] = Field(default_factory=list)


class BulkTagResult(BaseModel):
    examples: int
    added: int
    removed: int


# ---------------------------------------------------------------- label corrections


class LabelCorrectionSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: JSON true is no class index (lax mode would read it as 1).
    corrected_label: (
        Annotated[StrictInt, Field(ge=-MAX_BIGINT - 1, le=MAX_BIGINT)]
        | Annotated[str, Field(min_length=1, max_length=200), NoNul]
    )


class LabelCorrectionRead(BaseModel):
    example_id: str
    corrected_label: str
    applied_version: int | None


class LabelCorrectionsRead(BaseModel):
    dataset_version: int
    corrections: list[LabelCorrectionRead]


class DatasetVersionRead(BaseModel):
    dataset_version: int


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
    id: str | None = Field(
        default=None,
        description="What a project's `dataset` names: the built-in's name or an uploaded dataset's id.",
    )
    source: str = "builtin"
    tasks: list[str] = Field(
        default_factory=list,
        description="A multi-task dataset's binary tasks (one label column each, -1 when missing); "
        "empty for a single-task dataset.",
    )


class UploadedDatasetRead(BaseModel):
    """An uploaded or registered dataset; a project uses it with `"dataset": "<id>"`."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    source: Literal["npz", "csv", "images", "mnist", "cifar10"]
    filename: str
    kind: str
    input_shape: list[int]
    n_classes: int
    n_examples: int
    classes: list[str]
    has_splits: bool
    size_bytes: int
    sha256: str
    description: str
    created_at: UTCDatetime
    tasks: list[str] | None = Field(
        default=None, description="A multi-task dataset's tasks (labels N x K, -1 missing); else null."
    )


class UploadedDatasetsPage(Page):
    items: list[UploadedDatasetRead]


DatasetName = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]*[^\d\s\x00-\x1f][^\x00-\x1f]*$")
]


class DatasetUpload(BaseModel):
    """The form fields that come with an uploaded file."""

    model_config = ConfigDict(extra="forbid")

    name: DatasetName = Field(description="Unique name (not only digits: ids are digits).")
    label_column: Annotated[str | None, NoNul] = Field(
        default=None,
        max_length=200,
        description='CSV: the label column; several, comma-separated ("even,prime"), make a multi-task '
        "dataset whose columns hold 1, 0 or -1 (or nothing) for a missing label.",
    )
    image_size: str | None = Field(
        default=None,
        pattern=r"^\d{1,4}x\d{1,4}$",
        description="Zip of images: resize all to WxH, e.g. 28x28.",
    )
    kind: Literal["tabular", "image", "sequence"] | None = Field(
        default=None, description=".npz: how to read X with 3 dimensions (image by default, or sequence)."
    )
    description: Text = Field(default="", max_length=5000)


class DatasetRegister(BaseModel):
    """A folder of torchvision-format files already on the server's disk."""

    model_config = ConfigDict(extra="forbid")

    path: Text = Field(min_length=1, max_length=4096)
    format: Literal["mnist", "cifar10"]
    name: DatasetName | None = None


class GradcheckCreate(BaseModel):
    """A numerical gradient check of a model config on a tiny batch of a project's or a named dataset."""

    model_config = ConfigDict(extra="forbid")

    project_id: Id | None = None
    dataset: Annotated[str | None, NoNul] = Field(default=None, min_length=1, max_length=200)
    config: RunConfig = Field(default_factory=RunConfig)
    batch_size: int = Field(default=4, ge=1, le=64)

    @model_validator(mode="after")
    def _one_source(self) -> GradcheckCreate:
        if (self.project_id is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'project_id' or 'dataset'")
        return self


class GradcheckParameter(BaseModel):
    name: Text = Field(max_length=300)
    # Over the checked entries; null when every entry tried had a kink inside its step.
    relative_difference: float | None = Field(ge=0)
    reading: Text = ""
    size: int | None = Field(default=None, ge=0, le=MAX_BIGINT, description="Entries in the tensor.")
    checked: int | None = Field(
        default=None, ge=0, le=MAX_BIGINT, description="Entries compared with a central difference."
    )
    skipped: int | None = Field(
        default=None,
        ge=0,
        le=MAX_BIGINT,
        description="Entries left out: their ±epsilon step crossed a ReLU or max-pool kink.",
    )


class GradcheckResult(BaseModel):
    """What the worker posts back: one relative difference per parameter tensor, or an error."""

    model_config = ConfigDict(extra="forbid")

    parameters: list[GradcheckParameter] = Field(default_factory=list, max_length=10_000)
    epsilon: float | None = Field(default=None, gt=0, description="The central difference's step.")
    error: Annotated[str | None, NoNul] = Field(default=None, max_length=2000)


class GradcheckRead(BaseModel):
    id: str
    status: Literal["queued", "done", "failed"]
    dataset: str
    config: dict[str, Any]
    batch_size: int
    parameters: list[GradcheckParameter] = Field(default_factory=list)
    max_relative_difference: float | None = None
    reading: str | None = None
    measured: str | None = None  # what was compared and what was left out, in a sentence
    error: str | None = None
    created_at: UTCDatetime
    # Who started it: with auth on, only they (and admins and workers) may read it.
    owner_id: int | None = None


# ---------------------------------------------------------------- sweeps

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


# ---------------------------------------------------------------- accounts

Role = Literal["owner", "editor", "viewer"]
TokenKind = Literal["user", "worker"]
Username = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@\-]+$")]
Password = Annotated[str, Field(min_length=8, max_length=200)]


class MeRead(BaseModel):
    """Who is calling: a user, a worker, or everyone when auth is off (then an administrator)."""

    kind: Literal["anonymous", "user", "worker"]
    user_id: int | None
    username: str | None
    is_admin: bool
    auth_enabled: bool


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    is_admin: bool = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_admin: bool | None = None
    disabled: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    is_admin: bool
    disabled: bool
    created_at: UTCDatetime


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=200)
    new_password: Password


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    kind: TokenKind = Field(default="user", description="'worker' (admins only): a token for workers.")


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: TokenKind
    prefix: str = Field(description="The token's first 8 characters, to tell tokens apart.")
    created_at: UTCDatetime
    last_used_at: UTCDatetime | None
    revoked_at: UTCDatetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The token itself: shown this once, stored only as a hash.")


class MemberSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberRead(BaseModel):
    user_id: int
    username: str
    role: Role
