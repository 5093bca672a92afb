"""Pydantic option schemas for every architecture (no torch import: the server validates with these)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

LayerWidth = Annotated[int, Field(ge=1, le=4096)]
Init = Literal["he", "xavier", "small"]

#: The initialisation that keeps the activations' variance steady through each non-linearity, used when
#: `init` is left out: He (Kaiming) for the rectifiers, Xavier (Glorot) for the saturating ones.
DEFAULT_INIT: dict[str, Init] = {"relu": "he", "leaky_relu": "he", "tanh": "xavier", "sigmoid": "xavier"}
INIT_HELP = (
    "Weight initialisation: he (Var 2/fan_in, suits relu), xavier (Var 1/fan_avg, suits tanh/sigmoid), "
    "small (N(0, 0.01²), shows why scaling matters); blank: the one that suits the activation."
)

#: For the new-run form: what a blank `init` becomes, by the chosen activation.
INIT_FORM_HINT: dict[str, JsonValue] = {"blank_follows": "activation", "blank_defaults": dict(DEFAULT_INIT)}


def resolved_init(init: Init | None, activation: str) -> Init:
    """`init` as given, else the one that suits `activation` (he for relu, xavier for tanh)."""
    return init if init is not None else DEFAULT_INIT[activation]


class ModelOptions(BaseModel):
    """Base class: unknown fields are refused so a typo is a 422, not a silent default."""

    model_config = ConfigDict(extra="forbid")

    #: Dataset kinds ("tabular", "image", "sequence") the architecture can train on.
    supported_kinds: ClassVar[tuple[str, ...]] = ("tabular", "image", "sequence")
    #: Smallest spatial size (height, width) an image model needs, when it matters.
    min_image_size: ClassVar[int] = 1

    #: The architecture's key in models.MODELS; each subclass fixes it to its own literal.
    name: str


class SoftmaxOptions(ModelOptions):
    """Multinomial logistic regression: one linear layer on the flattened input."""

    name: Literal["softmax"] = Field("softmax", description="Softmax regression (a linear classifier).")


class MLPOptions(ModelOptions):
    """A fully connected network on the flattened input."""

    name: Literal["mlp"] = Field("mlp", description="Multi-layer perceptron.")
    hidden: list[LayerWidth] = Field(
        default_factory=lambda: [64],
        min_length=0,
        max_length=10,
        description="Units per hidden layer (0 to 10 layers of 1 to 4096 units); [] is softmax regression.",
    )
    activation: Literal["relu", "leaky_relu", "tanh", "sigmoid"] = Field(
        "relu", description="Non-linearity after each hidden layer."
    )
    init: Init | None = Field(None, description=INIT_HELP, json_schema_extra=INIT_FORM_HINT)
    batch_norm: bool = Field(False, description="Batch normalisation before each activation.")


class LeNet5Options(ModelOptions):
    """LeNet-5 style CNN: two conv + pool stages, then three fully connected layers."""

    supported_kinds: ClassVar[tuple[str, ...]] = ("image",)
    min_image_size: ClassVar[int] = 4

    name: Literal["lenet5"] = Field("lenet5", description="LeNet-5 convolutional network.")
    activation: Literal["relu", "tanh"] = Field("relu", description="Non-linearity after each layer.")
    init: Init | None = Field(None, description=INIT_HELP, json_schema_extra=INIT_FORM_HINT)
    pool: Literal["max", "avg"] = Field("max", description="Pooling after each convolution.")
    batch_norm: bool = Field(False, description="Batch normalisation after each convolution.")


class ResNetOptions(ModelOptions):
    """A small residual network: a stem convolution, residual blocks, global average pooling."""

    supported_kinds: ClassVar[tuple[str, ...]] = ("image",)

    name: Literal["resnet"] = Field("resnet", description="Residual network.")
    blocks: int = Field(2, ge=1, le=16, description="Number of residual blocks (each two convolutions).")
    channels: int = Field(16, ge=4, le=256, description="Channels in every block.")
    use_1x1: bool = Field(
        False, description="Bottleneck blocks (1x1 reduce, 3x3, 1x1 expand) instead of two 3x3 convolutions."
    )


class GRUOptions(ModelOptions):
    """A recurrent network: reads an image row by row (or a sequence), classifies the last state."""

    supported_kinds: ClassVar[tuple[str, ...]] = ("image", "sequence")

    name: Literal["gru"] = Field("gru", description="Recurrent network (GRU or LSTM).")
    cell: Literal["gru", "lstm"] = Field("gru", description="Recurrent cell type.")
    hidden: int = Field(64, ge=1, le=1024, description="Units in the recurrent state.")
    layers: int = Field(1, ge=1, le=4, description="Stacked recurrent layers.")
    bidirectional: bool = Field(False, description="Read the sequence in both directions.")


__all__ = [
    "DEFAULT_INIT",
    "GRUOptions",
    "LeNet5Options",
    "MLPOptions",
    "ModelOptions",
    "ResNetOptions",
    "SoftmaxOptions",
    "resolved_init",
]
