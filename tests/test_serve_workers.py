"""`trainboard serve --workers 2` on PostgreSQL, with real processes: one process at a time runs the reaper;
when it is killed another takes over within one interval, and no run is re-queued twice."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.backends import postgres_schema
from tests.processes import alive, server_process, trainboard_env, wait_until
from trainboard.client import Client

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

INTERVAL_S = 2.0
LEADS = re.compile(r"server process [^\s:]+:(\d+) now runs the background duties")
REQUEUED = re.compile(r"reaper: requeued \[([\d, ]*)\]")


def leaders(log: Path) -> list[int]:
    return [int(pid) for pid in LEADS.findall(log.read_text())]


def abandon_runs(client: Client, project_id: int, n: int) -> list[int]:
    """Runs claimed by a worker that then never reports: the reaper must re-queue each once."""
    run_ids = []
    for _ in range(n):
        run_id = int(client.create_run(project_id, config={}, external=False)["id"])
        client.start_run(run_id, worker="ghost:1", device="cpu")
        run_ids.append(run_id)
    return run_ids


def requeued(log: Path) -> Counter[int]:
    """How often the reaper logged re-queueing each run."""
    return Counter(int(i) for ids in REQUEUED.findall(log.read_text()) for i in ids.split(",") if i.strip())


def reaper_count(scraped: str, name: str) -> float:
    (line,) = (line for line in scraped.splitlines() if line.startswith(f"{name} "))
    return float(line.split()[1])


def all_queued(client: Client, run_ids: list[int]) -> bool:
    return all(client.get_run(run_id)["status"] == "queued" for run_id in run_ids)


def test_one_reaper_among_server_processes_and_a_successor_when_it_dies(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with postgres_schema("tb_serve") as database_url:
        env = trainboard_env(
            tmp_path / "home",
            database_url=database_url,
            reaper_interval_s=str(INTERVAL_S),
            heartbeat_timeout_s="3",
        )
        with server_process(env, log, workers=2) as url, Client(server_url=url) as client:
            first = wait_until(lambda: leaders(log), 30, "a leader")[0]
            project = client.get_or_create_project("reaped", dataset="digits")
            before = abandon_runs(client, project["id"], 4)
            wait_until(lambda: all_queued(client, before), 30, "the first runs to be re-queued")
            # The pass is over once it has logged (a run shows queued a moment earlier, at its commit).
            wait_until(lambda: set(requeued(log)) >= set(before), 10, "the pass to end")
            assert leaders(log) == [first], "exactly one process led"

            os.kill(first, signal.SIGKILL)
            killed_at = time.monotonic()
            successor = wait_until(
                lambda: [p for p in leaders(log) if p != first], 3 * INTERVAL_S, "a successor"
            )
            took_over_s = time.monotonic() - killed_at
            after = abandon_runs(client, project["id"], 4)
            wait_until(lambda: all_queued(client, after), 30, "the later runs to be re-queued")
            assert httpx.get(f"{url}/api/v1/health").status_code == 200
            assert alive(successor[0])
            # Whichever process answers, /metrics sums all of them: the reaper's passes (made by the leaders
            # only) and the runs it re-queued show in every scrape.
            for _ in range(4):
                scraped = httpx.get(f"{url}/metrics").text
                assert reaper_count(scraped, "trainboard_reaper_requeued_total") == 8
                assert reaper_count(scraped, "trainboard_reaper_passes_total") >= 3

    assert took_over_s <= INTERVAL_S + 1.0, f"took over after {took_over_s:.1f} s"
    counts = requeued(log)
    assert {run_id: counts[run_id] for run_id in before + after} == {run_id: 1 for run_id in before + after}
