"""A backlog of points goes up to METRICS_REQUESTS_IN_FLIGHT requests at a time, and only requests that can be
stored in any order go together: every point is stored once, with the first value sent for its (key, step),
whichever request the server finishes first. Against a fake server (what is in flight when), and against a
real `trainboard serve` on SQLite and on PostgreSQL (what is stored)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.backends import postgres_schema
from tests.processes import server_process, trainboard_env
from tests.test_client import sent_points
from tests.test_client_outages import FlakyApi, make_run
from trainboard.client import METRICS_REQUEST_MAX, Client, Run


class InFlightApi(FlakyApi):
    """FlakyApi that counts metric requests in flight. A metric request waits (up to `hold_s`) for a second
    one to arrive before it is answered, so that a client that sends two at once is seen doing so, and
    `fail_first` makes the request holding step 1 fail once, with a 503, after the wait."""

    def __init__(self, *, hold_s: float = 2.0, fail_first: bool = False) -> None:
        super().__init__()
        self.hold_s, self.fail_first = hold_s, fail_first
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.second = threading.Event()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/metrics") or self.down.is_set():
            return super().__call__(request)
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            if self.in_flight >= 2:
                self.second.set()
        try:
            self.second.wait(self.hold_s)
            if self.fail_first and sent_points(json.loads(request.content))[0]["step"] == 1:
                self.fail_first = False
                return httpx.Response(503, json={"detail": "The database is unavailable; try again shortly"})
            return super().__call__(request)
        finally:
            with self.lock:
                self.in_flight -= 1


def backlog_run(api: FlakyApi, tmp_path: Path, steps: range, value: float = 1.0) -> Run:
    """A run whose points for `steps` piled up while the server was away (it answers again on return)."""
    api.down.set()
    run = make_run(api, tmp_path, flush_interval_s=None, batch_size=10, max_buffered_points=100_000)
    for step in steps:
        run.log({"loss": value}, step=step)
    api.down.clear()
    return run


def test_a_backlog_goes_two_requests_at_a_time(tmp_path: Path) -> None:
    api = InFlightApi()
    run = backlog_run(api, tmp_path, range(1, 25_001))
    run.flush()
    assert api.most_in_flight == 2
    assert sorted(api.metric_posts) == [5_000, METRICS_REQUEST_MAX, METRICS_REQUEST_MAX]
    assert sorted(api.sent_steps) == list(range(1, 25_001)) and run.pending == 0
    run.finish(timeout_s=5)


def test_requests_whose_steps_overlap_go_one_after_the_other_and_the_first_value_stays() -> None:
    api = InFlightApi(hold_s=0.3)
    client = Client("http://tb.test", token="", transport=httpx.MockTransport(api))
    first = [{"key": "loss", "step": step, "value": 1.0} for step in range(1, METRICS_REQUEST_MAX + 1)]
    again = [{"key": "loss", "step": step, "value": 2.0} for step in range(5_001, 15_001)]
    client.log_metrics(7, first + again)
    assert api.most_in_flight == 1
    assert {step: api.metrics[7, "loss", step] for step in (1, 5_001, 10_000, 10_001, 15_000)} == {
        1: 1.0,
        5_001: 1.0,
        10_000: 1.0,
        10_001: 2.0,
        15_000: 2.0,
    }


def test_a_failed_request_keeps_the_ones_sent_beside_it_until_it_is_stored(tmp_path: Path) -> None:
    """The first request fails while the second is stored: the second's points stay buffered behind the
    first's and go again (the server keeps what it has), so nothing is lost or stored twice."""
    api = InFlightApi(fail_first=True)
    run = backlog_run(api, tmp_path, range(1, 20_001))
    run.finish(timeout_s=10)
    assert run.pending == 0 and api.most_in_flight == 2
    assert sorted(set(api.sent_steps)) == list(range(1, 20_001))
    assert api.sent_steps.count(20_000) == 2  # stored, then sent again behind the failed one
    assert len(api.metrics) == 20_000 and api.finished[7] == ("succeeded", None)


@contextmanager
def served(tmp_path: Path, database: str) -> Iterator[str]:
    if database == "sqlite":
        env = trainboard_env(tmp_path / "home")
        with server_process(env, tmp_path / "serve.log") as url:
            yield url
        return
    with postgres_schema("tb_inflight") as database_url:
        env = trainboard_env(tmp_path / "home", database_url=database_url)
        with server_process(env, tmp_path / "serve.log") as url:
            yield url


@pytest.mark.e2e
@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_real_server_stores_concurrent_requests_of_one_run_once_each(tmp_path: Path, database: str) -> None:
    keys = ("loss", "train_error", "dev_error")
    steps = range(1, 12_001)
    logged = [{"key": key, "step": step, "value": 1 / (step + 1)} for step in steps for key in keys]
    # Steps 1-100 of loss again, with other values: they overlap the first request, so they wait for it.
    again = [{"key": "loss", "step": step, "value": 0.5} for step in range(1, 101)]
    with served(tmp_path, database) as url, Client(server_url=url) as client:
        project = client.get_or_create_project("in-flight")
        run_id = int(client.create_run(project["id"], config={}, external=True)["id"])
        assert client.log_metrics(run_id, logged + again) == 36_000
        for key in keys:
            series = client.request("GET", f"/runs/{run_id}/metrics/{key}")
            assert series is not None
            body = series.json()
            assert body["total_points"] == 12_000 and not body["downsampled"]
            assert body["points"] == [[step, 1 / (step + 1)] for step in steps]
        run = client.get_run(run_id)
        assert run["summary"]["loss"] == 1 / 12_001
