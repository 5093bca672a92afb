"""The client library through outages: `log` never waits, nothing is dropped on connection errors or 5xx,
points past the memory limit go to disk and come back in order, and `finish` waits a bounded time."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from tests.test_client import FakeApi, sent_points
from trainboard._spool import PointBuffer
from trainboard.client import METRICS_REQUEST_MAX, Client, Run, TrainboardError


class FlakyApi(FakeApi):
    """FakeApi behind a switch: while `down`, every call is refused (or hangs until `released`)."""

    def __init__(self, *, down_with: str = "refused") -> None:
        super().__init__()
        self.down = threading.Event()
        self.released = threading.Event()
        self.down_with = down_with
        self.sent_steps: list[int] = []  # every step the server accepted, in arrival order, repeats included

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down.is_set():
            if self.down_with == "hang":
                self.released.wait(30)
            elif self.down_with == "503":
                return httpx.Response(503, json={"detail": "The database is unavailable; try again shortly"})
            else:
                raise httpx.ConnectError("connection refused")
        response = super().__call__(request)
        if request.url.path.endswith("/metrics") and response.status_code == 200:
            self.sent_steps += [p["step"] for p in sent_points(json.loads(request.content))]
        return response


def make_run(api: FlakyApi, tmp_path: Path, **options: object) -> Run:
    client = Client(
        "http://tb.test", token="", transport=httpx.MockTransport(api), backoff_s=0.01, max_backoff_s=0.05
    )
    defaults: dict[str, object] = {"batch_size": 10, "flush_interval_s": 0.01, "spool_dir": tmp_path}
    return Run(client, {"id": 7}, **{**defaults, **options})  # type: ignore[arg-type]


def test_log_returns_while_the_server_hangs(tmp_path: Path) -> None:
    api = FlakyApi(down_with="hang")
    api.down.set()
    run = make_run(api, tmp_path)
    logged = threading.Event()

    def train() -> None:
        for step in range(1, 501):
            run.log({"loss": 1.0 / step}, step=step)
        logged.set()

    threading.Thread(target=train, daemon=True).start()
    assert logged.wait(10), "log() waited for a server that does not answer"
    api.down.clear()
    api.released.set()
    run.finish(timeout_s=20)
    assert sorted({k[2] for k in api.metrics}) == list(range(1, 501))


@pytest.mark.parametrize("down_with", ["refused", "503"])
def test_points_logged_during_an_outage_all_arrive_in_order(tmp_path: Path, down_with: str) -> None:
    api = FlakyApi(down_with=down_with)
    run = make_run(api, tmp_path)
    for step in range(1, 51):
        run.log({"loss": 0.5}, step=step)
        if step == 10:
            api.down.set()
    assert run.pending >= 40  # nothing was dropped while the server was away
    api.down.clear()
    run.finish(timeout_s=20)
    assert sorted(dict.fromkeys(api.sent_steps)) == list(range(1, 51))
    assert list(dict.fromkeys(api.sent_steps)) == list(range(1, 51))  # first arrivals in logged order
    assert api.finished[7] == ("succeeded", None) and run.pending == 0


def test_past_the_memory_limit_points_spool_to_disk_and_replay_in_order(tmp_path: Path) -> None:
    api = FlakyApi()
    api.down.set()
    run = make_run(api, tmp_path, max_buffered_points=25)
    for step in range(1, 101):
        run.log({"a": float(step), "b": -float(step)}, step=step)
    folder = run.spool_folder
    assert folder is not None and folder.parent == tmp_path
    segments = sorted(folder.glob("*.jsonl"))
    assert len(segments) >= 7  # 200 points, at most 25 in memory
    first = [json.loads(line) for line in segments[0].read_text().splitlines()]
    assert [p["step"] for p in first][:4] == [1, 1, 2, 2] and first[0]["key"] == "a"
    api.down.clear()
    run.finish(timeout_s=20)
    assert list(dict.fromkeys(api.sent_steps)) == list(range(1, 101))
    assert len(api.metrics) == 200 and api.metrics[(7, "b", 100)] == -100.0
    assert not folder.exists()  # every segment was sent and removed


def test_finish_gives_up_after_its_timeout_and_keeps_the_points_on_disk(tmp_path: Path) -> None:
    api = FlakyApi()
    api.down.set()
    run = make_run(api, tmp_path)
    for step in range(1, 8):
        run.log({"loss": 0.5}, step=step)
    with pytest.raises(TrainboardError, match="cannot reach"):
        run.finish(timeout_s=0.3)
    assert run.finished and api.finished == {}
    assert run.spool_folder is not None
    kept = [
        json.loads(line)
        for f in sorted(run.spool_folder.glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert [p["step"] for p in kept] == list(range(1, 8))


def test_points_the_server_refuses_are_dropped_and_the_rest_sent(tmp_path: Path) -> None:
    api = FlakyApi()
    run = make_run(api, tmp_path, flush_interval_s=None, batch_size=5)
    api.failures = [422]
    for step in range(1, 11):
        run.log({"loss": 0.5}, step=step)
    run.finish(timeout_s=5)
    assert api.sent_steps == [6, 7, 8, 9, 10] and api.finished[7] == ("succeeded", None)


def test_without_a_flusher_log_does_not_raise_while_the_server_is_away(tmp_path: Path) -> None:
    api = FlakyApi()
    api.down.set()
    run = make_run(api, tmp_path, flush_interval_s=None, batch_size=2)
    for step in range(1, 21):
        run.log({"loss": 0.5}, step=step)
    assert run.pending == 20
    api.down.clear()
    run.finish(timeout_s=5)
    assert list(dict.fromkeys(api.sent_steps)) == list(range(1, 21))


def test_a_retried_create_sends_the_same_idempotency_key(tmp_path: Path) -> None:
    api = FlakyApi()
    client = Client("http://tb.test", token="", transport=httpx.MockTransport(api), sleep=lambda _: None)
    api.failures = [503, httpx.ReadTimeout("lost reply")]
    client.create_run(1, params={})
    keys = [r.headers.get("Idempotency-Key") for r in api.requests]
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1
    client.create_run(1, params={})
    client.create_project("p")
    later = [r.headers.get("Idempotency-Key") for r in api.requests[3:]]
    assert len(set(later)) == 2 and keys[0] not in later  # one new key per logical create


def test_points_peeked_from_memory_and_then_spooled_are_dropped_from_disk(tmp_path: Path) -> None:
    # The sender took the oldest points from memory; before the server answered, logging spooled memory.
    buffer = PointBuffer(max_memory_points=4, spool_root=tmp_path)
    buffer.add([{"step": s} for s in range(1, 4)])
    in_flight = buffer.peek(2)
    buffer.add([{"step": s} for s in range(4, 7)])  # 6 > 4: memory goes to disk
    buffer.drop(len(in_flight))
    rest = []
    while batch := buffer.peek(2):
        rest += [p["step"] for p in batch]
        buffer.drop(len(batch))
    assert [p["step"] for p in in_flight] == [1, 2] and rest == [3, 4, 5, 6] and len(buffer) == 0


def test_a_backlog_goes_in_requests_of_up_to_the_request_cap(tmp_path: Path) -> None:
    """Points that piled up (kept while the server was away, or logged faster than the round trips) go in
    requests of METRICS_REQUEST_MAX, not of batch_size each; logged slowly they still go at batch_size."""
    api = FlakyApi()
    api.down.set()
    run = make_run(api, tmp_path, flush_interval_s=None, batch_size=10, max_buffered_points=100_000)
    for step in range(1, 25_001):
        run.log({"loss": 1.0}, step=step)
    assert run.pending == 25_000 and api.metric_posts == []
    api.down.clear()
    run.flush()
    # Two of them at a time (tests/test_client_concurrent_sends.py): either may arrive first.
    assert sorted(api.metric_posts) == [5_000, METRICS_REQUEST_MAX, METRICS_REQUEST_MAX]
    for step in range(25_001, 25_021):
        run.log({"loss": 1.0}, step=step)
    run.finish(timeout_s=5)
    assert api.metric_posts[3:] == [10, 10]
    assert sorted(api.sent_steps) == list(range(1, 25_021)) and api.sent_steps[-20:] == list(
        range(25_001, 25_021)
    )
