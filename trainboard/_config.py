"""`run.config` and `run.summary`: a run's hyperparameters, nested, and the latest value of each metric."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from trainboard.params import flatten, nest

__all__ = ["Config", "Summary", "flatten", "nest"]


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
