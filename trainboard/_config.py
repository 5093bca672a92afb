"""`run.config` and `run.summary`: a run's hyperparameters, nested, and the latest value of each metric."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys as nested dicts: {"model.hidden": 64, "lr": 0.1} -> {"model": {"hidden": 64}, "lr": 0.1}.

    Raises ValueError when a key is both a value and a section ({"model": 1, "model.hidden": 64})."""
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *sections, leaf = str(key).split(".")
        here = nested
        for depth, section in enumerate(sections):
            here = here.setdefault(section, {})
            if not isinstance(here, dict):
                clash = ".".join(sections[: depth + 1])
                raise ValueError(f"config key {key!r} goes inside {clash!r}, but {clash!r} is a value")
        if isinstance(value, Mapping):
            value = nest(value)
            if isinstance(here.get(leaf), dict):
                value = {**here[leaf], **value}
        elif isinstance(here.get(leaf), dict):
            raise ValueError(f"config key {key!r} is a value, but other keys go inside it")
        here[leaf] = value
    return nested


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys: the inverse of `nest`."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Config(Mapping[str, Any]):
    """A run's hyperparameters, read-only: `config.lr`, `config["lr"]`, and dotted keys nested, so
    `{"model.hidden": 64}` reads as `config.model.hidden` or `config["model.hidden"]`."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_values", nest(values or {}))

    def __getitem__(self, key: str) -> Any:
        value: Any = self._values
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise KeyError(key)
            value = value[part]
        return Config(value) if isinstance(value, dict) else value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(
            "run.config is fixed when the run starts: pass every value to trainboard.init(config=)"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Config({self._values!r})"

    def as_dict(self) -> dict[str, Any]:
        """The values as plain nested dicts (a copy)."""
        return nest(self._values)


class Summary(MutableMapping[str, float]):
    """The latest value of each metric the run logged. Setting one (`run.summary["best_dev"] = 0.08`) sends
    it as a point at the run's latest step, so the server's summary says the same."""

    def __init__(self, values: Mapping[str, float], send: Callable[[str, float], None]) -> None:
        self._values = dict(values)
        self._send = send

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __setitem__(self, key: str, value: float) -> None:
        self._send(key, value)

    def __delitem__(self, key: str) -> None:
        raise TypeError("a logged metric stays in the summary: a summary key cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Summary({self._values!r})"

    def note(self, key: str, value: float) -> None:
        """Record a value logged (no sending: the point is on its way already)."""
        self._values[key] = value


__all__ = ["Config", "Summary", "flatten", "nest"]
