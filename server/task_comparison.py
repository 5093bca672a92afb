"""Would separate networks do better? A multi-task run's dev error on each task against a single-task run's
on the same task. Pure: numbers in, a dataclass out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskRow:
    """One task: the multi-task run's dev error on it and the single-task run's (None until logged)."""

    task: str
    multi_task: float | None
    single_task: float | None
    single_run_id: int | None

    @property
    def difference(self) -> float | None:
        """Single-task minus multi-task dev error: positive when the shared network does better."""
        if self.multi_task is None or self.single_task is None:
            return None
        return round(self.single_task - self.multi_task, 12)


def read_task_comparison(rows: Sequence[TaskRow], *, threshold: float = 0.005) -> str:
    """One sentence: on which tasks the multi-task network wins, and on which separate networks do.

    Args:
        rows: One per task, in the dataset's order.
        threshold: A difference in dev error below this fraction counts as a tie.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold >= 0:
        raise ValueError(f"threshold must be a non-negative number, but got {threshold=}")
    measured = [row for row in rows if row.difference is not None]
    if not measured:
        return "Not enough finished runs to compare yet: each task needs a dev error from both."
    shared = [row.task for row in measured if (row.difference or 0.0) >= threshold]
    separate = [row.task for row in measured if (row.difference or 0.0) <= -threshold]
    if not separate:
        where = f"better on {', '.join(shared)}" if shared else "as well"
        return (
            f"The multi-task network does {where} and no worse anywhere: one network for all the tasks "
            "pays (shared low-level features, fewer networks to train)."
        )
    if not shared:
        return (
            f"Separate networks do better on {', '.join(separate)} and the multi-task network wins nowhere: "
            "the tasks may share too little, or the network is too small for all of them (try a bigger one)."
        )
    return (
        f"The multi-task network does better on {', '.join(shared)}, separate networks on "
        f"{', '.join(separate)}: a bigger shared network may close the gap on the latter."
    )
