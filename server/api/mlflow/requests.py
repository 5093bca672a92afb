"""The request bodies MLflow's client sends, as pydantic models (fields it adds in later versions are
ignored, so a newer client still works)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from server.schemas import Int64, NoNul

# MLflow's JSON sends ids as strings and times as numbers; accept both spellings of each.
IdText = Annotated[
    str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v), NoNul, Field(max_length=100)
]
Text = Annotated[str, NoNul, Field(max_length=10_000)]
Word = Annotated[str, NoNul, Field(max_length=1000)]
Key = Annotated[str, NoNul, Field(max_length=1000)]
Millis = Annotated[int, Field(ge=0, le=2**53)]
# Param and tag values are strings in MLflow; a number sent bare reads as its text.
Value = Annotated[str, BeforeValidator(lambda v: v if isinstance(v, str) else str(v)), NoNul]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KeyValue(_Body):
    key: Key
    value: Value = ""


class ExperimentCreate(_Body):
    name: Annotated[str, NoNul, Field(max_length=200)]
    artifact_location: Word | None = None
    tags: list[KeyValue] = Field(default_factory=list, max_length=100)


class ExperimentId(_Body):
    experiment_id: IdText


class ExperimentUpdate(ExperimentId):
    new_name: Annotated[str, NoNul, Field(max_length=200)]


class ExperimentTag(ExperimentId):
    key: Key
    value: Annotated[Value, Field(max_length=10_000)] = ""


class ExperimentTagDelete(ExperimentId):
    key: Key


class ExperimentsSearch(_Body):
    max_results: int = Field(default=1000, ge=1, le=50_000)
    page_token: Word | None = None
    filter: Text | None = None
    order_by: list[Word] = Field(default_factory=list, max_length=20)
    view_type: Word = "ACTIVE_ONLY"


class RunCreate(_Body):
    experiment_id: IdText = "0"
    user_id: Annotated[str | None, NoNul] = Field(default=None, max_length=250)
    start_time: Millis | None = None
    tags: list[KeyValue] = Field(default_factory=list, max_length=1000)
    run_name: Annotated[str | None, NoNul] = Field(default=None, max_length=1000)


class RunId(_Body):
    run_id: IdText | None = None
    run_uuid: IdText | None = None

    @property
    def ident(self) -> str | None:
        return self.run_id or self.run_uuid


class RunUpdate(RunId):
    status: Word | None = None
    end_time: Millis | None = None
    run_name: Annotated[str | None, NoNul] = Field(default=None, max_length=1000)


class Metric(_Body):
    key: Key
    value: float | None = None
    timestamp: Int64 | None = None
    step: Int64 | None = 0


class LogMetric(RunId, Metric):
    pass


class LogParam(RunId):
    key: Key
    value: Value = ""


class SetTag(LogParam):
    pass


class DeleteTag(RunId):
    key: Key


class LogBatch(RunId):
    metrics: list[Metric] = Field(default_factory=list, max_length=1000)
    params: list[KeyValue] = Field(default_factory=list, max_length=100)
    tags: list[KeyValue] = Field(default_factory=list, max_length=100)


class RunsSearch(_Body):
    experiment_ids: list[IdText] = Field(default_factory=list, max_length=100)
    filter: Text | None = None
    run_view_type: Word = "ACTIVE_ONLY"
    max_results: Int64 = 1000
    order_by: list[Word] = Field(default_factory=list, max_length=20)
    page_token: Word | None = None


def values(items: list[KeyValue]) -> dict[str, str]:
    return {item.key: item.value for item in items}


def metric_dicts(items: list[Metric]) -> list[dict[str, Any]]:
    return [item.model_dump() for item in items]
