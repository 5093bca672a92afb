"""What both databases can store: ids, text without NUL, JSON objects, times in UTC, pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
)

from server import ids
from trainboard.metric_keys import KEY_MAX_LENGTH, KEY_PATTERN
from trainboard.storable import refuse_nul, refuse_unstorable

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
MetricKey = Annotated[str, Field(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN)]
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
SENT_MIN, SENT_MAX = datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)
SentDatetime = Annotated[
    datetime,
    Field(ge=SENT_MIN, le=SENT_MAX),
    AfterValidator(as_utc),
]


class Page(BaseModel):
    total: int
    limit: int
    offset: int
