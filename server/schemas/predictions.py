"""Per-example predictions in, misclassified examples out."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from server.schemas.common import Label, Page, Split, Text


class PredictionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    example_id: Text = Field(min_length=1, max_length=200)
    #: A multi-task run's task (one of its dataset's tasks); left out for a single-task run.
    task: Text | None = Field(default=None, min_length=1, max_length=100)
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
    task: str | None = None
    label: int | str
    predicted: int | str
    confidence: float | None
    loss: float | None
    tags: list[str]


class ErrorsPage(Page):
    items: list[ErrorItem]
