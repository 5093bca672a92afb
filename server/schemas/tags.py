"""Error-analysis tags and their per-example assignments."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from server.schemas.common import NoNul, Text


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
