"""Runs: create, update, lifecycle messages, the run row (RunRead), clones, repeats, seed groups."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from models.config import RunConfig
from server.schemas.common import MAX_BIGINT, Id, JsonObject, NoNul, Page, RunStatus, Text, UTCDatetime
from trainboard.storable import refuse_unstorable

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


class RunRelease(BaseModel):
    """A worker that stops gracefully hands its run back: queued at once, it resumes from its checkpoint."""

    model_config = ConfigDict(extra="forbid")

    worker: Text = Field(max_length=200, description="The worker that holds the run (as it claimed it).")
    reason: Text = Field(default="the worker stopped", max_length=500, description="Why it stopped.")


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
    archived_at: UTCDatetime | None = None


class RunResumed(RunRead):
    """A run reopened for its script: `last_step` is the highest step it has logged (null: none yet)."""

    last_step: int | None


class RunsPage(Page):
    items: list[RunRead]
    # Pass it back as ?cursor= for the next page (keyset paging); null on the last page.
    next_cursor: str | None = None


class RunAttemptRead(BaseModel):
    """One claim of a worker's run: who trained it, when, how it ended (null: still training), and the
    first epoch it trained (one past the epochs logged before it resumed)."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    worker: str | None
    started_at: UTCDatetime
    ended_at: UTCDatetime | None
    outcome: str | None
    reason: str | None
    resumed_from_epoch: int


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
