"""The free-slot count from what live workers announced (pure)."""

from __future__ import annotations

import pytest

from server.schemas import WorkerSlots
from server.worker_slots import count_slots, excess_parallelism


@pytest.mark.parametrize(
    ("announced", "expected"),
    [
        ([], (0, 0, 0, 0)),
        ([(1, 0)], (1, 1, 0, 1)),
        ([(1, 1)], (1, 1, 1, 0)),
        ([(2, 1), (4, 0)], (2, 6, 1, 5)),
        # A gradient check beside a run: that worker is full, the other's slots stay free.
        ([(1, 2), (2, 0)], (2, 3, 1, 2)),
    ],
)
def test_count_slots(announced: list[tuple[int, int]], expected: tuple[int, int, int, int]) -> None:
    slots = count_slots(announced)
    assert (slots.workers, slots.total, slots.busy, slots.free) == expected


@pytest.mark.parametrize("announced", [[(0, 0)], [(1, -1)]])
def test_count_slots_refuses_impossible_announcements(announced: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="but got"):
        count_slots(announced)


@pytest.mark.parametrize(("parallelism", "total", "excess"), [(3, 1, 2), (3, 3, 0), (2, 8, 0), (2, 0, 2)])
def test_excess_parallelism(parallelism: int, total: int, excess: int) -> None:
    slots = WorkerSlots(workers=1 if total else 0, total=total, busy=0, free=total)
    assert excess_parallelism(parallelism, slots) == excess


def test_excess_parallelism_refuses_no_parallelism() -> None:
    with pytest.raises(ValueError, match="parallelism=0"):
        excess_parallelism(0, count_slots([]))
