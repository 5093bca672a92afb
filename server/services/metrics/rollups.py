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

#: Bucket widths (in steps) of the rollups kept on write: 16, 64, 256, ..., 16 * 4**9 (about 4.2M steps), then
#: 2**34 (about 1.7e10 steps). Each is 4 times the one before up to there, so that for any series of up to
#: billions of steps one of them gives between a quarter of a chart's budget of buckets and all of it
#: (server.services.metrics.series). The coarsest is the one runs have always had (its rows give a series'
#: point count); widths between 4.2M and 2**34 served no chart and cost each batch a row a key apiece. Runs
#: logged before width 16 was added hold only `LEGACY_ROLLUP_WIDTHS`: the read checks that a width accounts
#: for every point before it trusts it.
ROLLUP_WIDTHS = tuple(16 * 4**level for level in range(10)) + (2**34,)
#: The widths written before 16, 256, 4096, ... were added (migration 0005 and every run until then).
LEGACY_ROLLUP_WIDTHS = tuple(64 * 16**level for level in range(8))

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
        # `_merge` of a one-point group, inlined: a call per point was a third of this function's time.
        group[0] += 1
        if value < group[2] or (value == group[2] and step < group[1]):
            group[1], group[2] = step, value
        if value > group[4] or (value == group[4] and step > group[3]):
            group[3], group[4] = step, value
    rows: list[Rollup] = []
    # Each width merges the groups of the finer width before it when it is a multiple of that one (so 16
    # widths cost little more than the finest), else the finest groups.
    below, below_width = fine, finest
    for width in sorted(widths):
        source, source_width = (below, below_width) if width % below_width == 0 else (fine, finest)
        factor = width // source_width
        if factor == 1:
            merged = source
        else:
            merged = {}
            for (key, bucket), group in source.items():
                into = merged.get((key, bucket // factor))
                if into is None:
                    merged[key, bucket // factor] = group.copy()
                else:
                    _merge(into, *group)
        rows += [(key, width, bucket, *group) for (key, bucket), group in merged.items()]
        below, below_width = merged, width
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
        kept = found.get(key)
        if kept is None or step >= kept[0]:
            found[key] = (step, point[2])
    return found
