"""The new-sweep form's parameter rows, generated from the hyperparameter and model option schemas: every
field becomes a searchable config path with a sensible default distribution on its own scale."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import models
from server.pages.runs import HPARAM_LABELS, MODEL_LABELS
from server.schemas import Hparams

KINDS = ("log_uniform", "uniform", "int_uniform", "one_minus_log_uniform", "choice")

#: Defaults where the schema's own range is too wide to search well: (distribution, low, high, choices).
DEFAULTS: dict[str, tuple[str, str, str, str]] = {
    "hparams.lr": ("log_uniform", "0.0001", "0.1", ""),
    "hparams.batch_size": ("int_uniform", "16", "256", ""),
    "hparams.epochs": ("int_uniform", "5", "30", ""),
    "hparams.l2": ("log_uniform", "0.000001", "0.1", ""),
    "hparams.keep_prob": ("uniform", "0.5", "1", ""),
    "hparams.beta": ("one_minus_log_uniform", "0.8", "0.99", ""),
    "hparams.beta1": ("one_minus_log_uniform", "0.9", "0.999", ""),
    "hparams.beta2": ("one_minus_log_uniform", "0.99", "0.9999", ""),
    "hparams.eps": ("log_uniform", "1e-10", "1e-6", ""),
    "hparams.decay_rate": ("log_uniform", "0.01", "1", ""),
    "hparams.grad_clip": ("log_uniform", "0.1", "10", ""),
    "hparams.train_fraction": ("uniform", "0.1", "1", ""),
    "hparams.seed": ("int_uniform", "0", "1000", ""),
    "hparams.early_stopping_patience": ("int_uniform", "2", "10", ""),
    "hparams.decay_steps": ("int_uniform", "2", "20", ""),
    "model.hidden": ("choice", "", "", "[32]; [64]; [128]; [64, 64]"),
}
#: Settings that change how a run is computed, not what it learns: not offered for search.
NOT_SEARCHED = {"hparams.precision", "hparams.normalize"}


@dataclass(frozen=True)
class ParamRow:
    """One searchable config path of the form and its distribution."""

    path: str
    label: str
    kind: str
    low: str = ""
    high: str = ""
    choices: str = ""
    on: bool = False


def _unwrap(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _bounds(info: FieldInfo) -> tuple[str, str]:
    low = high = ""
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge | annotated_types.Gt):
            low = str(getattr(meta, "ge", None) or getattr(meta, "gt", None) or 0)
        elif isinstance(meta, annotated_types.Le | annotated_types.Lt):
            high = str(getattr(meta, "le", None) or getattr(meta, "lt", None))
    return low, high


def _row(path: str, label: str, info: FieldInfo) -> ParamRow | None:
    if path in NOT_SEARCHED:
        return None
    if path in DEFAULTS:
        kind, low, high, choices = DEFAULTS[path]
        return ParamRow(path, label, kind, low, high, choices)
    annotation = _unwrap(info.annotation)
    if get_origin(annotation) is Literal:
        return ParamRow(path, label, "choice", choices="; ".join(str(a) for a in get_args(annotation)))
    if annotation is bool:
        return ParamRow(path, label, "choice", choices="false; true")
    if annotation in (int, float):
        low, high = _bounds(info)
        return ParamRow(path, label, "int_uniform" if annotation is int else "uniform", low, high)
    return None


def _rows_of(schema: type[BaseModel], prefix: str, labels: dict[str, str]) -> list[ParamRow]:
    rows = []
    for name, info in schema.model_fields.items():
        if name == "name":
            continue
        label = labels.get(name) or (info.description or name).split(":")[0].rstrip(".")
        row = _row(f"{prefix}.{name}", label, info)
        if row is not None:
            rows.append(row)
    return rows


def param_rows(model_name: str) -> list[ParamRow]:
    """Every searchable path: the hyperparameters (most searched first), then the model's options."""
    rows = _rows_of(Hparams, "hparams", HPARAM_LABELS)
    first = [p for p in DEFAULTS if p.startswith("hparams.")]
    rows.sort(key=lambda row: first.index(row.path) if row.path in first else len(first))
    spec = models.MODELS.get(model_name)
    if spec is not None:
        rows.extend(_rows_of(spec.options, "model", MODEL_LABELS))
    return rows


#: Free-form parameter rows the form offers for a sweep over your own script.
SCRIPT_ROWS = 6


def script_rows() -> list[ParamRow]:
    """Empty rows for a script's parameters, the first a learning rate to show the way."""
    first = ParamRow("lr", "lr", "log_uniform", "0.0001", "0.1", on=True)
    return [first, *(ParamRow("", "", "log_uniform") for _ in range(SCRIPT_ROWS - 1))]


def default_model(kind: str | None) -> str:
    """The architecture a sweep's base config uses when it names none."""
    return models.DEFAULT_MODEL_BY_KIND.get(kind or "", "mlp")
