"""Metric points in and series out."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import repeat
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from server.schemas.common import MetricKey, SentDatetime

MetricStep = Annotated[int, Field(ge=0, le=2**62)]
#: Points a batch may hold, in either form.
BATCH_POINTS_MAX = 100_000

#: key, step, value, timestamp (None: the batch's time): a point as the writers take it.
PointRow = tuple[str, int, float, datetime | None]
#: A series' times, one per step (None: the batch's time).
SeriesTimes = list[SentDatetime | None]
#: Where a batch's row came from, as a 422's `loc` names it (after "body").
Locate = Callable[[int], list[str | int]]


class MetricPointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: MetricKey
    step: MetricStep
    value: float
    timestamp: SentDatetime | None = None


class MetricSeriesIn(BaseModel):
    """One key's points as columns: `values[i]` (and `timestamps[i]`) at `steps[i]`. The compact form of a
    batch that the client library sends: less than half the bytes of the same points as objects, and each key
    and number read once."""

    model_config = ConfigDict(extra="forbid")

    key: MetricKey
    steps: list[MetricStep]
    values: list[float]
    timestamps: SeriesTimes | None = None

    @model_validator(mode="after")
    def _one_value_per_step(self) -> Self:
        if len(self.values) != len(self.steps):
            raise ValueError(
                f"values holds {len(self.values)} numbers for {len(self.steps)} steps: one per step"
            )
        if self.timestamps is not None and len(self.timestamps) != len(self.steps):
            raise ValueError(
                f"timestamps holds {len(self.timestamps)} times for {len(self.steps)} steps: one per step"
            )
        return self


class MetricsIn(BaseModel):
    """A batch of points: `metrics`, one object per point, or `series`, one object of columns per key."""

    model_config = ConfigDict(extra="forbid")

    metrics: list[MetricPointIn] | None = Field(default=None, max_length=BATCH_POINTS_MAX)
    series: list[MetricSeriesIn] | None = Field(default=None, max_length=BATCH_POINTS_MAX)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.metrics is None) == (self.series is None):
            raise ValueError("send the points as metrics (one object each) or as series (columns per key)")
        if self.series is not None and sum(len(s.steps) for s in self.series) > BATCH_POINTS_MAX:
            raise ValueError(
                f"series holds more than {BATCH_POINTS_MAX:,} points: send them in several batches"
            )
        return self

    def rows(self) -> tuple[list[PointRow], Locate]:
        """The batch's points as writer rows, and where each came from."""
        if self.metrics is not None:
            return [(p.key, p.step, p.value, p.timestamp) for p in self.metrics], point_location
        return series_rows([(s.key, s.steps, s.values, s.timestamps) for s in (self.series or [])])


def point_location(index: int) -> list[str | int]:
    """Where the `index`-th row of a `metrics` batch came from."""
    return ["metrics", index, "value"]


#: A series' columns: key, steps, values, timestamps (or None).
Columns = tuple[str, Sequence[int], Sequence[float], Sequence[datetime | None] | None]


def series_rows(columns: Sequence[Columns]) -> tuple[list[PointRow], Locate]:
    """A `series` batch's rows, and where each came from. Series that share one list of steps (a script
    logging several keys each step) are read step by step, each step's keys together, as a `metrics` batch
    of the same points is sent; others one after the other. Either way a (key, step) sent twice keeps its
    first value, as in a `metrics` batch."""
    each = [_points(*column) for column in columns]
    if columns and all(c[1] == columns[0][1] for c in columns):
        width = len(columns)
        rows = [row for step in zip(*each, strict=True) for row in step]
        return rows, lambda index: ["series", index % width, "values", index // width]
    rows = []
    starts: list[int] = []
    for points in each:
        starts.append(len(rows))
        rows += points

    def locate(index: int) -> list[str | int]:
        series = bisect_right(starts, index) - 1
        return ["series", series, "values", index - starts[series]]

    return rows, locate


def _points(
    key: str, steps: Sequence[int], values: Sequence[float], times: Sequence[datetime | None] | None
) -> zip[PointRow]:
    """One series' rows: its columns (of one length, validated) zipped beside an endless key."""
    return zip(repeat(key), steps, values, times or repeat(None), strict=False)


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
    #: With `with_time=1` (chart reads of many series): each point's timestamp, in seconds since the Unix
    #: epoch, in the order of `points`.
    times: list[float] | None = None


class MetricSeriesList(BaseModel):
    """Several series of one run at once (`GET /runs/{id}/metrics?keys=...`)."""

    series: list[MetricSeries]


class RunMetricSeries(MetricSeries):
    run_id: int


class RunsMetricSeriesList(BaseModel):
    """Series of several runs at once (`GET /metrics?run_ids=...&keys=...`)."""

    series: list[RunMetricSeries]
