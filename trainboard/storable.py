"""What a JSON column of either database stores as sent, checked before anything is written (torch-free,
shared by the server's request schemas and the run-config schema in models/config.py).

PostgreSQL cannot store a NUL character in text or JSON, nor NaN or infinity in JSON (SQLite can); a value
holding one is refused on both, naming where it is.
"""

from __future__ import annotations

import math
from typing import Any

NUL_REFUSED = "must not contain a NUL character (\\x00)"


def refuse_nul(value: str | None) -> str | None:
    """PostgreSQL cannot store a NUL character in text (SQLite can): refused on both, naming the field."""
    if value is not None and "\x00" in value:
        raise ValueError(NUL_REFUSED)
    return value


def unstorable_reason(value: object, where: str) -> str | None:
    """Why a free-form JSON value cannot be stored as sent (with where in it), or None."""
    if isinstance(value, str):
        return f"{where or 'value'}: {NUL_REFUSED}" if "\x00" in value else None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'value'}: must be a finite number (JSON has no {value})"
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if "\x00" in str(key):
                return f"{inner!r}: a key {NUL_REFUSED}"
            if problem := unstorable_reason(item, inner):
                return problem
    if isinstance(value, list):
        for index, item in enumerate(value):
            if problem := unstorable_reason(item, f"{where}[{index}]"):
                return problem
    return None


def refuse_unstorable(value: dict[str, Any]) -> dict[str, Any]:
    """Free-form JSON (run params, model options, a sweep space) that a JSON column of either database
    stores as sent: no NUL in a key or a string, no NaN or infinity (PostgreSQL's JSON has neither)."""
    if problem := unstorable_reason(value, ""):
        raise ValueError(problem)
    return value


__all__ = ["NUL_REFUSED", "refuse_nul", "refuse_unstorable", "unstorable_reason"]
