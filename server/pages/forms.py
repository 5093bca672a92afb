"""Form inputs described by pydantic schemas: each field's widget, range, help text and submitted value."""

from __future__ import annotations

import types
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

Kind = Literal["int", "float", "select", "checkbox", "int_list"]


@dataclass(frozen=True)
class FormField:
    """One input of a generated form."""

    input_name: str  # the HTML name, e.g. "hp_lr" or "m_mlp_hidden"
    path: str  # the dotted config path, e.g. "hparams.lr"
    label: str
    kind: Kind
    value: str
    help: str
    choices: tuple[str, ...] = ()
    optional: bool = False
    min: float | None = None
    max: float | None = None
    blank: str = "none"  # what a blank value means: an input's placeholder, a select's empty option
    blank_follows: str = ""  # the input whose value decides what blank means (new_run.js keeps it current)
    blank_texts: dict[str, str] = dataclass_field(default_factory=dict)  # that input's value -> `blank`


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _kind(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    if get_origin(annotation) is Literal:
        return "select", tuple(str(a) for a in get_args(annotation))
    if annotation is bool:
        return "checkbox", ()
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    if get_origin(annotation) is list:
        return "int_list", ()
    raise TypeError(f"no form widget for {annotation!r}")


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _bound(value: object) -> float:
    """A ge/gt/le/lt bound as the number it is (form fields only bound numbers)."""
    if isinstance(value, int | float):
        return value
    raise TypeError(f"no form widget for the bound {value!r}")


def _range(info: FieldInfo) -> tuple[float | None, float | None, str]:
    """(min, max, text) from the field's ge/gt/le/lt constraints; the text reads "> 0 and ≤ 10"."""
    low: float | None = None
    high: float | None = None
    parts = []
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = _bound(meta.ge)
            parts.append(f"≥ {_number(low)}")
        elif isinstance(meta, annotated_types.Gt):
            low = _bound(meta.gt)
            parts.append(f"> {_number(low)}")
        elif isinstance(meta, annotated_types.Le):
            high = _bound(meta.le)
            parts.append(f"≤ {_number(high)}")
        elif isinstance(meta, annotated_types.Lt):
            high = _bound(meta.lt)
            parts.append(f"< {_number(high)}")
    return low, high, " and ".join(parts)


def as_text(value: Any) -> str:
    """A config value as the text an input shows: lists become "64,64", booleans "true"/""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _blank_texts(schema: type[BaseModel], info: FieldInfo) -> tuple[str, dict[str, str]]:
    """(followed field, {its value: what a blank means then}) for a field whose default depends on another.

    The schema names them in `json_schema_extra`: "blank_follows" (a Literal field) and "blank_defaults"
    (that field's value -> the default), e.g. `init` follows `activation`, `decay_rate` follows `lr_decay`.
    """
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    follows, defaults = extra.get("blank_follows"), extra.get("blank_defaults")
    if not isinstance(follows, str) or not isinstance(defaults, dict):
        return "", {}
    _, choices = _kind(_unwrap_optional(schema.model_fields[follows].annotation)[0])
    return follows, {
        choice: f"default: {as_text(defaults[choice])}" if choice in defaults else "not used"
        for choice in choices
    }


def schema_fields(
    schema: type[BaseModel],
    *,
    input_prefix: str,
    path_prefix: str,
    values: dict[str, Any],
    labels: dict[str, str],
    skip: tuple[str, ...] = (),
) -> list[FormField]:
    """The inputs for every field of `schema`, showing `values` (else the schema's defaults)."""
    result = []
    for name, info in schema.model_fields.items():
        if name in skip:
            continue
        annotation, optional = _unwrap_optional(info.annotation)
        kind, choices = _kind(annotation)
        low, high, range_text = _range(info)
        help_text = (info.description or "").rstrip(".")
        if range_text:
            help_text += f" (range {range_text})" if help_text else f"Range {range_text}"
        follows, blank_texts = _blank_texts(schema, info)
        blank = "none"
        if follows:
            chosen = values.get(follows) or schema.model_fields[follows].get_default()
            blank = blank_texts.get(str(chosen), "not used")
        elif optional:
            help_text += "; leave blank for none"
        default = info.get_default(call_default_factory=True)
        result.append(
            FormField(
                input_name=f"{input_prefix}{name}",
                path=f"{path_prefix}{name}",
                label=labels.get(name, name.replace("_", " ").capitalize()),
                kind=kind,
                value=as_text(values.get(name, default)),
                help=help_text + "." if help_text else "",
                choices=choices,
                optional=optional,
                min=low,
                max=high,
                blank=blank,
                blank_follows=f"{input_prefix}{follows}" if follows else "",
                blank_texts=blank_texts,
            )
        )
    return result


def parse_int_list(text: str) -> list[int]:
    """ "64, 64" -> [64, 64]; "" -> []. Raises ValueError naming what to type instead."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"enter whole numbers separated by commas, e.g. 64,64, but got {text!r}") from None


def submitted(fields: list[FormField], form: dict[str, str]) -> dict[str, Any]:
    """The values the form sent for `fields`, keyed by schema field name; blanks are left to the defaults.

    Numbers stay text so that pydantic reports a bad one against its field. Raises ValueError (with
    `.input_name`) for a list that is not numbers.
    """
    values: dict[str, Any] = {}
    for f in fields:
        name = f.path.rsplit(".", 1)[-1]
        raw = form.get(f.input_name, "").strip()
        if f.kind == "checkbox":
            values[name] = raw in ("true", "on", "1")
        elif f.kind == "int_list":
            try:
                values[name] = parse_int_list(raw)
            except ValueError as exc:
                raise FieldError(f.input_name, f"{f.label} ({f.path}): {exc}") from None
        elif raw:
            values[name] = raw
        elif f.optional:
            values[name] = None
    return values


class FieldError(ValueError):
    """A form value that cannot even be handed to the schema (e.g. "64,abc" for a list of widths)."""

    def __init__(self, input_name: str, message: str) -> None:
        super().__init__(message)
        self.input_name = input_name
        self.message = message
