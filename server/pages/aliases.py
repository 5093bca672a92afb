"""Metric-key aliases as the project form shows them: one "alias -> canonical key" per line."""

from __future__ import annotations

import re
from collections.abc import Mapping

_LINE = re.compile(r"^(?P<alias>[A-Za-z0-9_.\-/:]+)\s*(?:->|→)\s*(?P<canonical>[A-Za-z0-9_.\-/:]+)$")


def format_aliases(aliases: Mapping[str, str] | None) -> str:
    """{"val_error": "dev_error"} -> "val_error -> dev_error"."""
    return "\n".join(f"{alias} -> {canonical}" for alias, canonical in (aliases or {}).items())


def parse_aliases(text: str) -> dict[str, str]:
    """ "val_error -> dev_error" per line -> {"val_error": "dev_error"}; ValueError naming the bad line.

    Only the shape is checked here; which targets are allowed is ProjectUpdate's (trainboard.metric_keys)."""
    aliases: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(
                f"line {number}: write alias -> canonical key, e.g. val_error -> dev_error, but got {line!r}"
            )
        alias, canonical = match["alias"], match["canonical"]
        if aliases.get(alias, canonical) != canonical:
            raise ValueError(f"line {number}: {alias} is already an alias of {aliases[alias]}")
        aliases[alias] = canonical
    return aliases
