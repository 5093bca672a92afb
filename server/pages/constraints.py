"""Satisficing constraints as the project form shows them: one "metric <= bound" per line."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

_LINE = re.compile(r"^(?P<metric>[A-Za-z0-9_.\-/:]+)\s*(?P<op><=|>=|≤|≥)\s*(?P<bound>\S+)$")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def format_constraints(constraints: Iterable[Mapping[str, Any]]) -> str:
    """[{"metric": "latency_ms_b1", "max": 10}] -> "latency_ms_b1 <= 10"."""
    lines = []
    for c in constraints:
        op, bound = ("<=", c["max"]) if c.get("max") is not None else (">=", c["min"])
        lines.append(f"{c.get('metric')} {op} {_number(float(bound))}")
    return "\n".join(lines)


def parse_constraints(text: str) -> list[dict[str, Any]]:
    """ "latency_ms_b1 <= 10" per line -> [{"metric": ..., "max": 10.0}]; ValueError naming the bad line."""
    constraints: list[dict[str, Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"line {number}: write metric <= number or metric >= number, but got {line!r}")
        try:
            bound = float(match["bound"].replace(",", "").replace("_", ""))
        except ValueError:
            message = f"line {number}: the bound must be a number, but got {match['bound']!r}"
            raise ValueError(message) from None
        if not math.isfinite(bound):
            raise ValueError(f"line {number}: the bound must be finite, but got {match['bound']!r}")
        key = "max" if match["op"] in ("<=", "≤") else "min"
        constraints.append({"metric": match["metric"], key: bound})
    return constraints
