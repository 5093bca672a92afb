"""Metric points in and series out."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from server.schemas.common import MetricKey, SentDatetime


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


class MetricSeriesList(BaseModel):
    """Several series of one run at once (`GET /runs/{id}/metrics?keys=...`)."""

    series: list[MetricSeries]


class RunMetricSeries(MetricSeries):
    run_id: int


class RunsMetricSeriesList(BaseModel):
    """Series of several runs at once (`GET /metrics?run_ids=...&keys=...`)."""

    series: list[RunMetricSeries]
