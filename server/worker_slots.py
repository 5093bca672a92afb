"""How many worker slots are free, from what the live workers announced (pure: no database, no web)."""

from __future__ import annotations

from collections.abc import Iterable

from server.schemas.workers import WorkerSlots


def count_slots(announced: Iterable[tuple[int, int]]) -> WorkerSlots:
    """Slots of workers that each announced (concurrency, active_runs).

    A worker that trains more than its concurrency (a gradient check beside a run) fills its own slots only:
    it takes none from the others."""
    workers = total = busy = 0
    for concurrency, active_runs in announced:
        if concurrency < 1 or active_runs < 0:
            raise ValueError(
                f"a worker needs concurrency >= 1 and active_runs >= 0, but got {concurrency=}, "
                f"{active_runs=}"
            )
        workers += 1
        total += concurrency
        busy += min(active_runs, concurrency)
    return WorkerSlots(workers=workers, total=total, busy=busy, free=total - busy)


def excess_parallelism(parallelism: int, slots: WorkerSlots) -> int:
    """How many of a sweep's `parallelism` trials at once can never run together on the live workers' slots
    (0 when they fit; every one of them when no worker is running)."""
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, but got {parallelism=}")
    return max(0, parallelism - slots.total)
