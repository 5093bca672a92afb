"""Search-space distributions and the parser of the API's `space` JSON (pure maths, no I/O).

Each distribution maps its values to an "internal" axis on which it is uniform: the value itself for uniform
and integer ranges, log(value) for log-uniform, log(1 - value) for one-minus-log-uniform, the index
for a choice.
Sampling, grids, zooming and importance all work on that axis, so each parameter is treated on its own scale.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Scale = str  # "linear" | "log" | "one_minus_log" | "categorical"


class InvalidSearchSpace(ValueError):
    """A search space the server must refuse; `path` is the dotted config path (e.g. "hparams.lr")."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class BaseDistribution(ABC):
    """A distribution over one config value, uniform on its internal axis."""

    kind: str
    scale: Scale

    @abstractmethod
    def to_internal(self, value: Any) -> float:
        """The value's position on the axis the distribution is uniform on."""

    @abstractmethod
    def from_internal(self, x: float) -> Any:
        """The config value at position `x` of the internal axis."""

    @abstractmethod
    def internal_bounds(self) -> tuple[float, float]:
        """(low, high) of the internal axis."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The API's JSON form, e.g. {"log_uniform": [1e-4, 1e-1]}."""

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn uniformly on the internal axis."""
        low, high = self.internal_bounds()
        return self.from_internal(float(rng.uniform(low, high)))

    def grid(self, size: int) -> list[Any]:
        """`size` values evenly spaced on the internal axis, ends included."""
        low, high = self.internal_bounds()
        if size < 1:
            raise ValueError(f"a grid needs at least 1 point, but got {size=}")
        points = [low] if size == 1 or low == high else np.linspace(low, high, size).tolist()
        values: list[Any] = []
        for point in points:
            value = self.from_internal(point)
            if value not in values:
                values.append(value)
        return values

    def contains(self, value: Any) -> bool:
        """Whether `value` lies in the distribution's range."""
        try:
            x = self.to_internal(value)
        except (TypeError, ValueError):
            return False
        low, high = self.internal_bounds()
        tolerance = 1e-9 * max(1.0, abs(low), abs(high))
        return low - tolerance <= x <= high + tolerance

    def extremes(self) -> list[Any]:
        """The values at both ends of the range (what submit-time validation tries first)."""
        low, high = self.internal_bounds()
        return [self.from_internal(low), self.from_internal(high)]


def _tidy(value: float) -> float:
    # exp(log(20)) is 19.999999999999996: 12 significant digits give back the numbers users typed.
    return float(f"{value:.12g}")


def _check_bounds(path: str, kind: str, low: Any, high: Any) -> tuple[float, float]:
    for name, bound in (("low", low), ("high", high)):
        if isinstance(bound, bool) or not isinstance(bound, int | float) or not math.isfinite(bound):
            raise InvalidSearchSpace(path, f"{kind} bounds must be finite numbers, but got {name}={bound!r}")
    if low > high:
        raise InvalidSearchSpace(path, f"{kind} needs low <= high, but got {low=} and {high=}")
    return float(low), float(high)


@dataclass(frozen=True)
class UniformDistribution(BaseDistribution):
    low: float
    high: float
    kind = "uniform"
    scale = "linear"

    def to_internal(self, value: Any) -> float:
        return float(value)

    def from_internal(self, x: float) -> float:
        return float(min(max(x, self.low), self.high))

    def internal_bounds(self) -> tuple[float, float]:
        return self.low, self.high

    def to_json(self) -> dict[str, Any]:
        return {self.kind: [self.low, self.high]}


@dataclass(frozen=True)
class LogUniformDistribution(BaseDistribution):
    low: float
    high: float
    kind = "log_uniform"
    scale = "log"

    def to_internal(self, value: Any) -> float:
        return math.log(float(value))

    def from_internal(self, x: float) -> float:
        return float(min(max(_tidy(math.exp(x)), self.low), self.high))

    def internal_bounds(self) -> tuple[float, float]:
        return math.log(self.low), math.log(self.high)

    def to_json(self) -> dict[str, Any]:
        return {self.kind: [self.low, self.high]}


@dataclass(frozen=True)
class IntUniformDistribution(BaseDistribution):
    low: int
    high: int
    kind = "int_uniform"
    scale = "linear"

    def to_internal(self, value: Any) -> float:
        return float(value)

    def from_internal(self, x: float) -> int:
        return int(min(max(round(x), self.low), self.high))

    def internal_bounds(self) -> tuple[float, float]:
        # Half a step past each end, so that every integer gets the same share of the draws.
        return self.low - 0.4999, self.high + 0.4999

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def grid(self, size: int) -> list[Any]:
        if size >= self.high - self.low + 1:
            return list(range(self.low, self.high + 1))
        return sorted({int(round(x)) for x in np.linspace(self.low, self.high, size)})

    def extremes(self) -> list[Any]:
        return [self.low, self.high]

    def to_json(self) -> dict[str, Any]:
        return {self.kind: [self.low, self.high]}


@dataclass(frozen=True)
class OneMinusLogUniformDistribution(BaseDistribution):
    """For momentum-like betas: 1 - beta is log-uniform, so 0.9 ... 0.999 spends as many draws near 0.999."""

    low: float
    high: float
    kind = "one_minus_log_uniform"
    scale = "one_minus_log"

    def to_internal(self, value: Any) -> float:
        return math.log(1.0 - float(value))

    def from_internal(self, x: float) -> float:
        return float(min(max(_tidy(1.0 - math.exp(x)), self.low), self.high))

    def internal_bounds(self) -> tuple[float, float]:
        # 1 - beta shrinks as beta grows: the higher beta is the lower end of the axis.
        return math.log(1.0 - self.high), math.log(1.0 - self.low)

    def to_json(self) -> dict[str, Any]:
        return {self.kind: [self.low, self.high]}


@dataclass(frozen=True)
class ChoiceDistribution(BaseDistribution):
    choices: tuple[Any, ...]
    kind = "choice"
    scale = "categorical"

    def to_internal(self, value: Any) -> float:
        for index, choice in enumerate(self.choices):
            if choice == value and type(choice) is type(value):
                return float(index)
        raise ValueError(f"{value!r} is not one of the choices {list(self.choices)}")

    def from_internal(self, x: float) -> Any:
        return self.choices[int(min(max(round(x), 0), len(self.choices) - 1))]

    def internal_bounds(self) -> tuple[float, float]:
        return 0.0, float(len(self.choices) - 1)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]

    def grid(self, size: int) -> list[Any]:
        return list(self.choices)

    def extremes(self) -> list[Any]:
        return list(self.choices)

    def to_json(self) -> dict[str, Any]:
        return {self.kind: list(self.choices)}


def _parse_range(path: str, kind: str, bounds: Any) -> tuple[float, float]:
    if not isinstance(bounds, list | tuple) or len(bounds) != 2:
        raise InvalidSearchSpace(path, f"{kind} needs [low, high], but got {bounds!r}")
    return _check_bounds(path, kind, bounds[0], bounds[1])


def parse_distribution(path: str, spec: Any) -> BaseDistribution:
    """One distribution from its JSON form; InvalidSearchSpace names `path` and the reason."""
    if not isinstance(spec, Mapping):
        raise InvalidSearchSpace(
            path, f"a distribution must be an object such as {{'uniform': [0, 1]}}, but got {spec!r}"
        )
    kinds = [key for key in spec if key in KINDS]
    unknown = sorted(set(spec) - set(KINDS) - {"grid", "values"})
    if unknown:
        raise InvalidSearchSpace(path, f"unknown key {unknown[0]!r}; use one of {', '.join(KINDS)}")
    if len(kinds) != 1:
        raise InvalidSearchSpace(path, f"give exactly one of {', '.join(KINDS)}, but got {sorted(spec)}")
    kind = kinds[0]
    value = spec[kind]
    if kind == "choice":
        if not isinstance(value, list | tuple) or not value:
            raise InvalidSearchSpace(path, f"choice needs a non-empty list, but got {value!r}")
        return ChoiceDistribution(tuple(value))
    low, high = _parse_range(path, kind, value)
    if kind == "uniform":
        return UniformDistribution(low, high)
    if kind == "log_uniform":
        if low <= 0:
            raise InvalidSearchSpace(path, f"log_uniform needs positive bounds, but got {low=}")
        return LogUniformDistribution(low, high)
    if kind == "one_minus_log_uniform":
        if not (0 < low < 1 and 0 < high < 1):
            raise InvalidSearchSpace(
                path, f"one_minus_log_uniform needs bounds in (0, 1), but got {low=} and {high=}"
            )
        return OneMinusLogUniformDistribution(low, high)
    if not (float(value[0]).is_integer() and float(value[1]).is_integer()):
        raise InvalidSearchSpace(path, f"int_uniform needs integer bounds, but got {list(value)!r}")
    return IntUniformDistribution(int(low), int(high))


@dataclass(frozen=True)
class SearchSpace:
    """Named distributions plus per-path grid settings ({"grid": n} or {"values": [...]})."""

    distributions: dict[str, BaseDistribution]
    grid_sizes: dict[str, int]
    grid_values: dict[str, list[Any]]

    def to_json(self) -> dict[str, Any]:
        """The API's JSON form of the whole space."""
        space: dict[str, Any] = {}
        for path, distribution in self.distributions.items():
            spec = distribution.to_json()
            if path in self.grid_sizes:
                spec["grid"] = self.grid_sizes[path]
            if path in self.grid_values:
                spec["values"] = self.grid_values[path]
            space[path] = spec
        return space


#: A parameter of a user's own script: dotted names of letters, digits, "_" and "-" ("optimizer.lr").
SCRIPT_PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
MAX_PATH_LENGTH = 200
#: Most parameters of a script's space: "try next" fixes every parameter of the run it copies.
MAX_SCRIPT_PARAMS = 200


def parse_space(space: Any, *, max_params: int | None = None, free_paths: bool = False) -> SearchSpace:
    """Parse the API's `space` JSON: {"hparams.lr": {"log_uniform": [1e-4, 1e-1]}, ...}.

    With `free_paths` (a sweep over a user's own script) a path is any dotted name ("lr", "optimizer.lr"),
    but no path may be a prefix of another: "optimizer" and "optimizer.lr" cannot both be set in the
    nested config the script reads.
    """
    if max_params is None:
        max_params = MAX_SCRIPT_PARAMS if free_paths else 32
    if not isinstance(space, Mapping) or not space:
        raise InvalidSearchSpace(
            "space", f"must map at least one config path to a distribution, but got {space!r}"
        )
    if len(space) > max_params:
        raise InvalidSearchSpace("space", f"at most {max_params} parameters, but got {len(space)}")
    distributions: dict[str, BaseDistribution] = {}
    grid_sizes: dict[str, int] = {}
    grid_values: dict[str, list[Any]] = {}
    for path, spec in space.items():
        if free_paths:
            _check_script_path(path, space)
        else:
            _check_path(path)
        distribution = parse_distribution(path, spec)
        distributions[path] = distribution
        size = spec.get("grid")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
                raise InvalidSearchSpace(path, f"grid must be an integer in [1, 1000], but got grid={size!r}")
            grid_sizes[path] = size
        values = spec.get("values")
        if values is not None:
            grid_values[path] = _check_values(path, distribution, values)
    return SearchSpace(distributions, grid_sizes, grid_values)


def _check_path(path: Any) -> None:
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) < 2 or parts[0] not in ("model", "hparams") or not all(parts):
        raise InvalidSearchSpace(
            str(path),
            f"a config path starts with 'model.' or 'hparams.' (e.g. 'hparams.lr'), but got {path!r}",
        )


def _check_script_path(path: Any, space: Mapping[str, Any]) -> None:
    if not isinstance(path, str) or len(path) > MAX_PATH_LENGTH or not SCRIPT_PATH.match(path):
        raise InvalidSearchSpace(
            str(path)[:MAX_PATH_LENGTH],
            "a parameter name is letters, digits, '_' and '-', with dots between nested names "
            f"(e.g. 'lr' or 'optimizer.lr'), at most {MAX_PATH_LENGTH} characters, but got {path!r}",
        )
    parent = next((other for other in space if path.startswith(f"{other}.")), None)
    if parent is not None:
        raise InvalidSearchSpace(
            path, f"{parent!r} is searched too, so {path!r} cannot also be set inside it; keep one of them"
        )


def _check_values(path: str, distribution: BaseDistribution, values: Any) -> list[Any]:
    if not isinstance(values, list) or not values:
        raise InvalidSearchSpace(path, f"values must be a non-empty list, but got {values!r}")
    for value in values:
        if not distribution.contains(value):
            raise InvalidSearchSpace(
                path, f"every value must lie in {distribution.to_json()}, but got {value!r}"
            )
    return list(values)


KINDS: dict[str, type[BaseDistribution]] = {
    "uniform": UniformDistribution,
    "log_uniform": LogUniformDistribution,
    "int_uniform": IntUniformDistribution,
    "choice": ChoiceDistribution,
    "one_minus_log_uniform": OneMinusLogUniformDistribution,
}
