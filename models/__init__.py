"""Model registry: names map to option schemas and lazily imported builders.

`resolve_model_config` is torch-free (the server calls it); `build_model` imports torch when called.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from models.options import (
    GRUOptions,
    LeNet5Options,
    MLPOptions,
    ModelOptions,
    ResNetOptions,
    SoftmaxOptions,
)

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ModelSpec:
    """One architecture: its option schema and the "module:function" that builds it."""

    options: type[ModelOptions]
    builder: str


MODELS: dict[str, ModelSpec] = {
    "softmax": ModelSpec(SoftmaxOptions, "models.softmax:build"),
    "mlp": ModelSpec(MLPOptions, "models.mlp:build"),
    "lenet5": ModelSpec(LeNet5Options, "models.lenet5:build"),
    "resnet": ModelSpec(ResNetOptions, "models.resnet:build"),
    "gru": ModelSpec(GRUOptions, "models.gru:build"),
}

#: The model used when a config names none.
DEFAULT_MODEL_BY_KIND: dict[str, str] = {"tabular": "mlp", "image": "mlp", "sequence": "gru"}


class ModelConfigError(ValueError):
    """A model config the server must refuse: `field` is a dotted path such as "model.hidden"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _options_for(config: dict[str, Any], *, kind: str | None) -> ModelOptions:
    """Validate `config` against its architecture's schema, naming the bad field on failure."""
    if not isinstance(config, dict):
        raise ModelConfigError("model", f"must be an object, but got {type(config).__name__}")
    name = config.get("name")
    if name is None:
        if kind is None:
            raise ModelConfigError("model.name", "is required")
        name = DEFAULT_MODEL_BY_KIND.get(kind, "mlp")
    spec = MODELS.get(name) if isinstance(name, str) else None
    if spec is None:
        known = ", ".join(sorted(MODELS))
        raise ModelConfigError("model.name", f"unknown model {name!r}; choose one of {known}")
    if kind is not None and kind not in spec.options.supported_kinds:
        needs = " or ".join(spec.options.supported_kinds)
        raise ModelConfigError("model.name", f"{name} needs {needs} data, but the dataset is {kind}")
    try:
        return spec.options.model_validate({**config, "name": name})
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join(str(part) for part in ("model", *error["loc"]))
        raise ModelConfigError(path, error["msg"]) from None


def _check_input(options: ModelOptions, *, kind: str, input_shape: tuple[int, ...]) -> None:
    """Refuse inputs an architecture cannot take (e.g. an image smaller than its pooling needs)."""
    if kind == "image":
        if len(input_shape) != 3:
            raise ModelConfigError("model.name", f"image input must be (C, H, W), but got {input_shape}")
        smallest = min(input_shape[1:])
        if smallest < options.min_image_size:
            raise ModelConfigError(
                "model.name",
                f"{options.name} needs images of at least {options.min_image_size}x{options.min_image_size}, "
                f"but got {input_shape[1]}x{input_shape[2]}",
            )
    if kind == "sequence" and len(input_shape) != 2:
        raise ModelConfigError("model.name", f"sequence input must be (T, F), but got {input_shape}")


def resolve_model_config(
    config: dict[str, Any], *, kind: str, input_shape: tuple[int, ...], n_classes: int
) -> dict[str, Any]:
    """Fill defaults into a model config and validate it for a dataset; returns a JSON-able dict."""
    if n_classes < 2:
        raise ModelConfigError("model", f"a classifier needs at least 2 classes, but got {n_classes=}")
    options = _options_for(config or {}, kind=kind)
    _check_input(options, kind=kind, input_shape=tuple(input_shape))
    return options.model_dump(mode="json")


def build_model(
    config: dict[str, Any], *, input_shape: tuple[int, ...], n_classes: int, keep_prob: float = 1.0
) -> torch.nn.Module:
    """Build the nn.Module a (resolved) config describes; imports torch lazily."""
    options = _options_for(config, kind=None)
    module_name, function_name = MODELS[options.name].builder.split(":")
    build = getattr(importlib.import_module(module_name), function_name)
    return build(options, input_shape=tuple(input_shape), n_classes=n_classes, keep_prob=keep_prob)


def model_options_schema() -> dict[str, dict[str, Any]]:
    """JSON schema of every architecture's options, keyed by name (for the new-run form)."""
    return {name: spec.options.model_json_schema() for name, spec in MODELS.items()}


__all__ = [
    "DEFAULT_MODEL_BY_KIND",
    "MODELS",
    "GRUOptions",
    "LeNet5Options",
    "MLPOptions",
    "ModelConfigError",
    "ModelOptions",
    "ModelSpec",
    "ResNetOptions",
    "SoftmaxOptions",
    "build_model",
    "model_options_schema",
    "resolve_model_config",
]
