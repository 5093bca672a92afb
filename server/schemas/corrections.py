"""Label corrections and dataset versions."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
)

from server.schemas.common import MAX_BIGINT, NoNul


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
