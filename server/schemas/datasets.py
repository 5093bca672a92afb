"""Health, datasets (built-in and uploaded) and gradient checks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from models.config import RunConfig
from server.schemas.common import MAX_BIGINT, Id, NoNul, Page, Text, UTCDatetime


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
