"""Projects: create, update, read; satisficing constraints and metric aliases."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from server.schemas.common import MetricKey, NoNul, OptimizingMetric, Page, Text, UTCDatetime
from trainboard.metric_keys import alias_problem

#: The API's unit; the pages take and show the same value as a percentage (their help says so too).
HUMAN_LEVEL_HELP = (
    "Best error a human (or a team of experts) achieves: the proxy for Bayes error. A fraction from 0 to 1 "
    "(0.005 is 0.5 %); the pages show and take it as a percentage."
)


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
        description=HUMAN_LEVEL_HELP,
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
    human_level_error: float | None = Field(default=None, ge=0, le=1, description=HUMAN_LEVEL_HELP)
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
