"""What a batch of new points adds to its series' rollups and summaries, computed once in Python for both
databases: SQLite upserts the rows one by one (sqlite_writer), PostgreSQL sends them as arrays inside its
batch statement (postgres_writer), which leaves the database no sorting or grouping to do.

A rollup row is one (key, width, bucket): how many points fell in it, its minimum with the first step
holding it and its maximum with the last step holding it. A batch's points are grouped once into the
finest buckets, and every coarser width's buckets are merged from those few groups.

The tie rule (a tie on the minimum keeps the earlier step, on the maximum the later) is written here in
Python (`_merge`), in ROLLUP_ON_CONFLICT (a batch's rows merged into the stored ones, both databases) and
in postgres_writer's re-send statement (array aggregation). SQL cannot call the Python, so
tests/server/test_rollup_contract.py holds all three equal to a recount of the raw points, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

#: Bucket widths (in steps) of the rollups kept on write: 64, 1024, ..., 64 * 16**7 (about 1.7e10 steps).
ROLLUP_WIDTHS = tuple(64 * 16**level for level in range(8))

#: A batch's rollup rows merged into the stored ones, by `_merge`'s rule: counts add up, each extreme keeps
#: the more extreme value, and on a tie the earlier step for the minimum, the later for the maximum.
ROLLUP_ON_CONFLICT = (
    "ON CONFLICT (run_id, key, width, bucket) DO UPDATE SET n = metric_rollups.n + excluded.n, "
    "min_step = CASE WHEN excluded.min_value < metric_rollups.min_value "
    "OR (excluded.min_value = metric_rollups.min_value AND excluded.min_step < metric_rollups.min_step) "
    "THEN excluded.min_step ELSE metric_rollups.min_step END, "
    "min_value = CASE WHEN excluded.min_value < metric_rollups.min_value "
    "THEN excluded.min_value ELSE metric_rollups.min_value END, "
    "max_step = CASE WHEN excluded.max_value > metric_rollups.max_value "
    "OR (excluded.max_value = metric_rollups.max_value AND excluded.max_step > metric_rollups.max_step) "
    "THEN excluded.max_step ELSE metric_rollups.max_step END, "
    "max_value = CASE WHEN excluded.max_value > metric_rollups.max_value "
    "THEN excluded.max_value ELSE metric_rollups.max_value END"
)
#: A summary keeps the value of the latest step (as `latest`).
SUMMARY_ON_CONFLICT = (
    "ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value "
    "WHERE run_summaries.step <= excluded.step"
)

#: key, width, bucket, n, min_step, min_value, max_step, max_value
Rollup = tuple[str, int, int, int, int, float, int, float]


def rollups(points: Iterable[Sequence[Any]], widths: Sequence[int]) -> list[Rollup]:
    """The rollup rows of (key, step, value, ...) points, unique per (key, step), at each of `widths`
    (each a multiple of the smallest)."""
    finest = finest_width(widths)
    # [n, min_step, min_value, max_step, max_value] per (key, finest bucket)
    fine: dict[tuple[str, int], list[Any]] = {}
    for point in points:
        key, step, value = point[0], point[1], point[2]
        group = fine.get((key, step // finest))
        if group is None:
            fine[key, step // finest] = [1, step, value, step, value]
            continue
        _merge(group, 1, step, value, step, value)
    rows: list[Rollup] = []
    for width in sorted(widths):
        factor = width // finest
        if factor == 1:
            merged = fine
        else:
            merged = {}
            for (key, bucket), group in fine.items():
                into = merged.get((key, bucket // factor))
                if into is None:
                    merged[key, bucket // factor] = group.copy()
                else:
                    _merge(into, *group)
        rows += [(key, width, bucket, *group) for (key, bucket), group in merged.items()]
    return rows


def finest_width(widths: Sequence[int]) -> int:
    """The smallest of `widths`, which every other must be a multiple of (its buckets merge into theirs)."""
    finest = min(widths)
    if any(width % finest for width in widths):
        raise ValueError(f"every width must be a multiple of the finest, but got {widths=}")
    return finest


def _merge(into: list[Any], n: int, min_step: int, min_value: float, max_step: int, max_value: float) -> None:
    """Fold one group into another: a tie on the minimum keeps the earlier step, on the maximum the later."""
    into[0] += n
    if min_value < into[2] or (min_value == into[2] and min_step < into[1]):
        into[1], into[2] = min_step, min_value
    if max_value > into[4] or (max_value == into[4] and max_step > into[3]):
        into[3], into[4] = max_step, max_value


def latest(points: Iterable[Sequence[Any]]) -> dict[str, tuple[int, float]]:
    """Each key's (step, value) at its highest step among (key, step, value, ...) points: its summary."""
    found: dict[str, tuple[int, float]] = {}
    for point in points:
        key, step = point[0], point[1]
        if key not in found or step >= found[key][0]:
            found[key] = (step, point[2])
    return found
