"""Agents on several machines share one script sweep: processes asking for trials at the same moment, on
a file-backed SQLite database and on PostgreSQL, never get the same trial, and together get the budget."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import make_engine
from server.migrate import upgrade
from server.queue import RunQueue
from server.schemas import SweepCreate
from server.services import sweep_agents, sweeps
from server.tables import Project, Run, Sweep
from tests.backends import postgres_schema

AGENTS = 4
TRIALS = 30


class _NoQueue(RunQueue):
    def enqueue(self, run_id: int) -> bool:
        raise AssertionError("a script sweep queues nothing to the workers")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'agents.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    with postgres_schema("tb_handout") as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def _make_sweep(url: str, trials: int) -> int:
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        project = Project(name="mine", dataset="external")
        session.add(project)
        session.commit()
        data = SweepCreate(
            project_id=project.id,
            target="script",
            space={"lr": {"log_uniform": [1e-4, 1e-1]}},
            trials=trials,
        )
        sweep_id = sweeps.create_sweep(session=session, data=data, queue=_NoQueue()).id
    engine.dispose()
    return sweep_id


def _take_until_none(url: str, sweep_id: int, start_at: float) -> list[tuple[int, str]]:
    """One agent: ask for trials from `start_at` (the same instant in every process) until none is left."""
    engine = make_engine(url)
    taken = []
    with Session(engine, expire_on_commit=False) as session:
        while time.time() < start_at:
            time.sleep(0.001)
        while (run := sweep_agents.next_trial(session=session, sweep_id=sweep_id)) is not None:
            taken.append((run.id, run.name))
    engine.dispose()
    return taken


def _race(url: str, sweep_id: int) -> list[list[tuple[int, str]]]:
    start_at = time.time() + 3.0  # after every process has imported the server
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(AGENTS, mp_context=context) as pool:
        futures = [pool.submit(_take_until_none, url, sweep_id, start_at) for _ in range(AGENTS)]
        return [future.result(timeout=120) for future in futures]


def _stored(url: str, sweep_id: int) -> tuple[int, int]:
    engine = make_engine(url)
    with Session(engine) as session:
        n_runs = session.scalar(select(func.count()).where(Run.sweep_id == sweep_id))
        handed_out = session.scalar(select(Sweep.handed_out).where(Sweep.id == sweep_id))
    engine.dispose()
    return int(n_runs or 0), int(handed_out or 0)


def test_agents_racing_share_the_budget_without_a_trial_twice(database_url: str) -> None:
    sweep_id = _make_sweep(database_url, TRIALS)
    per_agent = _race(database_url, sweep_id)
    taken = [trial for agent in per_agent for trial in agent]
    names = sorted(name for _, name in taken)
    assert len(taken) == TRIALS, per_agent
    assert len({run_id for run_id, _ in taken}) == TRIALS
    assert names == sorted(f"sweep-{sweep_id}-t{i}" for i in range(1, TRIALS + 1))
    assert _stored(database_url, sweep_id) == (TRIALS, TRIALS)


def test_agents_racing_for_the_last_trial_exactly_one_gets_it(database_url: str) -> None:
    sweep_id = _make_sweep(database_url, 1)
    per_agent = _race(database_url, sweep_id)
    assert sorted(len(agent) for agent in per_agent) == [0] * (AGENTS - 1) + [1]
    assert _stored(database_url, sweep_id) == (1, 1)
