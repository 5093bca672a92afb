"""What the chart scripts (static/run.js, static/compare.js) need to know about metric keys, from their
one definition (trainboard.metric_keys), and the smoothing slider's bound (server.chart_math)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import quote

from server.chart_math import MAX_BETA
from trainboard.metric_keys import ERROR_KEYS, LOSS_KEYS

#: A run with at most this many keys has all its charts in the page's first read.
FIRST_READ_KEYS = 18

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


#: The run page's x-axis, kept by static/run.js in localStorage and in this cookie (path /runs), so that
#: the page's head preloads its first read with the timestamps that a time axis asks for.
X_AXIS_COOKIE = "tb_chart_x"
TIMED_AXES = ("wall", "relative")


def timed_axis(cookies: Mapping[str, str]) -> bool:
    """Whether the run page's charts are drawn against time (their reads then carry timestamps)."""
    return cookies.get(X_AXIS_COOKIE) in TIMED_AXES


def first_read(
    series_url: str, logged: Collection[str], max_points: int, *, with_time: bool = False
) -> dict[str, Any] | None:
    """The run page's first series read, as the keys and the URL that static/run.js fetches: every key when
    the run logged at most FIRST_READ_KEYS (one request fills the page), else the canonical errors and losses
    it logged (its first screen's charts; the rest follow). None when neither applies: run.js then reads the
    first per-key charts in page order first. The page preloads the URL from its head, so the read is under
    way while the browser parses the page and Plotly; run.js uses that answer when it wants the timestamps
    exactly when `with_time` says (the x-axis cookie), and else asks again."""
    canonical = [key for key in (*ERROR_KEYS, *LOSS_KEYS) if key in logged]
    others = sorted(key for key in logged if key not in canonical)
    keys = canonical + others if len(logged) <= FIRST_READ_KEYS else canonical
    if not keys:
        return None
    url = f"{series_url}?keys={','.join(quote(key, safe='') for key in keys)}&max_points={max_points}"
    if with_time:
        url += "&with_time=1"
    return {"keys": keys, "url": url, "with_time": with_time}
