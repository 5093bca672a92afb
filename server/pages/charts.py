"""What the chart scripts (static/run.js, static/compare.js) need to know about metric keys, from their
one definition (trainboard.metric_keys), and the smoothing slider's bound (server.chart_math)."""

from __future__ import annotations

from typing import Any

from server.chart_math import MAX_BETA
from trainboard.metric_keys import ERROR_KEYS, LOSS_KEYS

#: The prefix of the system metrics (trainboard.system_metrics): their panel comes last.
SYSTEM_PREFIX = "system/"


def chart_keys() -> dict[str, Any]:
    """The page data the charts group keys by: the canonical error keys (drawn first, as percentages, in
    one chart) and losses (one chart), the system metrics' prefix, and the largest smoothing beta."""
    return {
        "error_keys": list(ERROR_KEYS),
        "loss_keys": list(LOSS_KEYS),
        "system_prefix": SYSTEM_PREFIX,
        "max_beta": MAX_BETA,
    }
