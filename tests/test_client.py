"""The client library against an in-memory stand-in for the API (httpx.MockTransport)."""

from __future__ import annotations

import json
import math
import re
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import trainboard
from trainboard._http import series_body
from trainboard.client import Client, Run, TrainboardError


def sent_points(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The points of a metric batch in either form (the client sends columns per key; older ones objects)."""
    if "metrics" in body:
        return list(body["metrics"])
    points = []
    for series in body["series"]:
        times = series.get("timestamps")
        for i, (step, value) in enumerate(zip(series["steps"], series["values"], strict=True)):
            point = {"key": series["key"], "step": step, "value": value}
            if times is not None:
                point["timestamp"] = times[i]
            points.append(point)
    return points


class FakeApi:
    """Answers the handful of routes the client uses and records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.projects: list[dict[str, Any]] = []
        self.metrics: dict[tuple[int, str, int], float] = {}
        self.metric_posts: list[int] = []
        self.finished: dict[int, tuple[str, str | None]] = {}
        self.failures: list[int | Exception] = []  # served before the real answer, first first
        self.runs: dict[int, dict[str, Any]] = {}  # by id; the first created is 7
        self.keys: dict[str, int] = {}  # Idempotency-Key -> run id
        self.series_form = True  # False: refuse batches of columns, as a server from before them

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure, json={"detail": "boom"})
        path, method = request.url.path.removeprefix("/api/v1"), request.method
        body = json.loads(request.content) if request.content and method != "PUT" else None
        if path == "/health":
            return httpx.Response(200, json={"status": "ok", "database": "ok", "broker": "ok"})
        if path == "/projects" and method == "GET":
            name = request.url.params["name"]
            items = [p for p in self.projects if p["name"] == name]
            return httpx.Response(200, json={"total": len(items), "items": items})
        if path == "/projects" and method == "POST":
            project = {"id": len(self.projects) + 1, **body}
            self.projects.append(project)
            return httpx.Response(201, json=project)
        if path.startswith("/projects/") and method == "PATCH":
            project = self.projects[int(path.split("/")[2]) - 1]
            project.update(body)
            return httpx.Response(200, json=project)
        if path == "/runs" and method == "POST":
            key = request.headers.get("Idempotency-Key")
            if key not in self.keys:
                run_id = 7 + len(self.runs)
                name = body.get("name") or f"run-{run_id}"
                self.runs[run_id] = {"status": "running", "summary": {}, **body, "id": run_id, "name": name}
                self.keys[key or ""] = run_id
            return httpx.Response(201, json=self.runs[self.keys[key or ""]])
        if re.fullmatch(r"/runs/\d+", path) and method == "GET":
            return httpx.Response(200, json=self.runs[int(path.split("/")[2])])
        if re.fullmatch(r"/runs/\d+", path) and method == "PATCH":
            run = self.runs[int(path.split("/")[2])]
            run.update(body)
            return httpx.Response(200, json=run)
        if path.endswith("/resume"):
            run = self.runs[int(path.split("/")[2])]
            steps = [step for (run_id, _, step) in self.metrics if run_id == run["id"]]
            run.update(status="running", summary=self.summary(run["id"]))
            return httpx.Response(200, json={**run, "last_step": max(steps, default=None)})
        if path.endswith("/metrics"):
            run_id = int(path.split("/")[2])
            if "series" in body and not self.series_form:  # what an older server's schema answered
                detail = [
                    {"loc": ["body", "metrics"], "msg": "Field required", "type": "missing"},
                    {
                        "loc": ["body", "series"],
                        "msg": "Extra inputs are not permitted",
                        "type": "extra_forbidden",
                    },
                ]
                return httpx.Response(422, json={"detail": detail})
            points = sent_points(body)
            for point in points:
                if not math.isfinite(point["value"]):
                    return httpx.Response(422, json={"detail": "value must be finite"})
                # The first value of a (run, key, step) stays, as on the server.
                self.metrics.setdefault((run_id, point["key"], point["step"]), point["value"])
            self.metric_posts.append(len(points))
            return httpx.Response(200, json={"accepted": len(points)})
        if path.endswith("/predictions"):
            return httpx.Response(200, json={"accepted": len(body["predictions"])})
        if path.endswith("/finish"):
            self.finished[int(path.split("/")[2])] = (body["status"], body["error"])
            return httpx.Response(200, json={"id": 7, "status": body["status"]})
        if path.endswith("/checkpoint") and method == "GET":
            return httpx.Response(404, json={"detail": "Run has no checkpoint"})
        if path.endswith("/checkpoint") and method == "PUT":
            return httpx.Response(204)
        return httpx.Response(404, json={"detail": "Not found"})

    def summary(self, run_id: int) -> dict[str, float]:
        """Each key's value at its highest step, as the server's summary."""
        latest: dict[str, tuple[int, float]] = {}
        for (run, key, step), value in sorted(self.metrics.items()):
            if run == run_id and step >= latest.get(key, (-1, 0.0))[0]:
                latest[key] = (step, value)
        return {key: value for key, (_, value) in latest.items()}


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi) -> Client:
    return Client("http://tb.test", token="s3cret", transport=httpx.MockTransport(api), sleep=lambda _: None)


def test_client_sends_the_bearer_token(api: FakeApi, client: Client) -> None:
    client.find_project("nothing")
    assert api.requests[0].headers["Authorization"] == "Bearer s3cret"
    assert str(api.requests[0].url) == "http://tb.test/api/v1/projects?name=nothing"


def test_client_without_token_sends_no_authorization(api: FakeApi) -> None:
    client = Client("http://tb.test", token="", transport=httpx.MockTransport(api))
    client.find_project("x")
    assert "Authorization" not in api.requests[0].headers


def test_client_retries_server_errors_and_connection_errors(api: FakeApi, client: Client) -> None:
    api.failures = [503, httpx.ConnectError("refused"), 429]
    assert client.find_project("p") is None
    assert len(api.requests) == 4


def test_client_backs_off_exponentially(api: FakeApi) -> None:
    waits: list[float] = []
    client = Client("http://tb.test", token="", transport=httpx.MockTransport(api), sleep=waits.append)
    api.failures = [500, 500, 500]
    client.find_project("p")
    assert waits == [0.5, 1.0, 2.0]


def test_client_gives_up_after_the_configured_retries(api: FakeApi) -> None:
    client = Client(
        "http://tb.test", token="", retries=2, transport=httpx.MockTransport(api), sleep=lambda _: None
    )
    api.failures = [502, 502, 502, 502]
    with pytest.raises(TrainboardError) as info:
        client.find_project("p")
    assert info.value.status_code == 502 and len(api.requests) == 3


def test_client_never_retries_4xx(api: FakeApi, client: Client) -> None:
    api.failures = [422]
    with pytest.raises(TrainboardError) as info:
        client.create_project("p")
    assert info.value.status_code == 422 and info.value.detail == "boom"
    assert len(api.requests) == 1


def test_metric_batches_go_as_columns_per_key_with_exact_times(api: FakeApi, client: Client) -> None:
    stamp = "2026-12-05T12:00:00.123457+01:00"
    points = [
        {"key": key, "step": step, "value": step / 3, "timestamp": stamp} for step in range(3) for key in "ab"
    ]
    assert client.log_metrics(7, [*points, {"key": "c", "step": 1, "value": 2.0}]) == 7
    body = json.loads(api.requests[-1].content)
    assert [s["key"] for s in body["series"]] == ["a", "b", "c"]
    assert body["series"][0]["steps"] == [0, 1, 2] and body["series"][1]["values"] == [0.0, 1 / 3, 2 / 3]
    assert "timestamps" not in body["series"][2], "the server stamps points sent without a time"
    # Seconds since the epoch, read back by the server to the same microsecond.
    sent = datetime.fromtimestamp(body["series"][0]["timestamps"][0], UTC)
    assert sent == datetime.fromisoformat(stamp)
    epoch = {"key": "e", "step": 1, "value": 1.0, "timestamp": "1970-01-01T00:00:00+00:00"}
    client.log_metrics(7, [epoch])
    assert json.loads(api.requests[-1].content)["series"][0]["timestamps"] == [0.0], "a time, not none"
    far = {"key": "d", "step": 1, "value": 1.0, "timestamp": "9999-01-01T00:00:00.000001+00:00"}
    client.log_metrics(7, [far])
    assert json.loads(api.requests[-1].content)["series"][0]["timestamps"] == [far["timestamp"]]


def test_a_server_that_predates_columns_gets_points_from_then_on(api: FakeApi, client: Client) -> None:
    api.series_form = False
    assert client.log_metrics(7, [{"key": "a", "step": 1, "value": 1.0}]) == 1
    assert client.log_metrics(7, [{"key": "a", "step": 2, "value": 2.0}]) == 1
    sent = [json.loads(r.content) for r in api.requests]
    assert [list(body) for body in sent] == [["series"], ["metrics"], ["metrics"]]
    assert api.metrics == {(7, "a", 1): 1.0, (7, "a", 2): 2.0}


def test_get_checkpoint_returns_none_when_missing(client: Client) -> None:
    assert client.get_checkpoint(7) is None


def test_put_checkpoint_sends_raw_bytes(api: FakeApi, client: Client) -> None:
    client.put_checkpoint(7, b"\x00\x01")
    assert api.requests[0].content == b"\x00\x01"
    assert api.requests[0].headers["Content-Type"] == "application/octet-stream"


def test_log_predictions_batches_at_5000(api: FakeApi, client: Client) -> None:
    rows = [
        {"example_id": str(i), "label": 1, "predicted": 0, "confidence": 0.5, "loss": 1.0}
        for i in range(12001)
    ]
    assert client.log_predictions(7, "dev", rows) == 12001
    assert len(api.requests) == 3


def test_log_predictions_refuses_an_unknown_split(client: Client) -> None:
    with pytest.raises(ValueError, match="split"):
        client.log_predictions(7, "validation", [])


def test_init_creates_the_project_once(api: FakeApi, client: Client) -> None:
    run = trainboard.init(project="mine", params={"lr": 0.01}, client=client)
    trainboard.init(project="mine", client=client).finish()
    assert run.id == 7 and len(api.projects) == 1 and api.projects[0]["dataset"] == "external"
    create = json.loads(next(r for r in api.requests if r.url.path == "/api/v1/runs").content)
    assert create.pop("environment")["argv"] == sys.argv
    assert create == {"project_id": 1, "external": True, "params": {"lr": 0.01}}
    run.finish()


def test_init_puts_the_run_in_its_seed_group(api: FakeApi, client: Client) -> None:
    run = trainboard.init(project="mine", params={"seed": 3}, group="lr 0.01", client=client)
    [create] = [json.loads(r.content) for r in api.requests if r.url.path == "/api/v1/runs"]
    del create["environment"]
    assert create == {"project_id": 1, "group": "lr 0.01", "external": True, "params": {"seed": 3}}
    run.finish()


def test_run_buffers_until_finish(api: FakeApi, client: Client) -> None:
    run = Run(client, {"id": 7}, flush_interval_s=None)
    for epoch in range(1, 4):
        run.log({"train_error": 0.5 / epoch, "dev_error": 0.6 / epoch}, step=epoch)
    assert api.metric_posts == []
    run.finish()
    assert api.metric_posts == [6]
    assert api.metrics[(7, "dev_error", 3)] == pytest.approx(0.2)
    assert api.finished[7] == ("succeeded", None)


def test_run_sends_a_batch_when_the_buffer_is_full(api: FakeApi, client: Client) -> None:
    run = Run(client, {"id": 7}, batch_size=10, flush_interval_s=None)
    for _ in range(12):
        run.log({"loss": 1.0})
    assert api.metric_posts == [10]
    run.flush()
    assert api.metric_posts == [10, 2]
    run.finish()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_is_refused_by_name_before_a_batch_leaves(
    api: FakeApi, client: Client, value: float
) -> None:
    """Points that did not come through `run.log` (an import, a sync) are checked as they are sent: JSON
    has no NaN, and the server would refuse the whole batch."""
    points = [{"key": "loss", "step": 1, "value": 0.5}, {"key": "acc", "step": 1, "value": value}]
    with pytest.raises(ValueError, match="metric 'acc' holds"):
        client.log_metrics(7, points)
    assert api.metric_posts == []
    big = [{"key": "x", "step": 1, "value": 1e308}, {"key": "x", "step": 2, "value": 1e308}]
    assert client.log_metrics(7, big) == 2  # finite, though their sum is not
    # No number at all is left to the server, whose 422 names the field.
    assert series_body([{"key": "y", "step": 1, "value": "high"}])["series"][0]["values"] == ["high"]


def test_log_metrics_sends_a_long_list_in_requests_of_up_to_the_cap(api: FakeApi, client: Client) -> None:
    points = [{"key": "loss", "step": step, "value": 0.5} for step in range(1, 12_001)]
    assert client.log_metrics(7, points) == 12_000
    assert sorted(api.metric_posts) == [2_000, trainboard.client.METRICS_REQUEST_MAX]  # two at once


def test_run_steps_auto_increment_from_one(api: FakeApi, client: Client) -> None:
    run = Run(client, {"id": 7}, flush_interval_s=None)
    run.log({"a": 1.0})
    run.log({"a": 2.0})
    run.log({"a": 3.0}, step=10)
    run.log({"a": 4.0})
    run.finish()
    assert sorted(step for (_, _, step) in api.metrics) == [1, 2, 10, 11]


def test_run_flushes_in_the_background(api: FakeApi, client: Client) -> None:
    import time

    run = Run(client, {"id": 7}, flush_interval_s=0.05)
    run.log({"a": 1.0})
    deadline = time.monotonic() + 5
    while not api.metric_posts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.metric_posts == [1]
    run.finish()


@pytest.mark.parametrize("key", ["val loss", "loss\n", "", "k" * 251, "top-1 acc"])
def test_run_refuses_a_key_the_server_would_refuse_before_it_is_sent(
    api: FakeApi, client: Client, key: str
) -> None:
    """The server refuses a whole batch for one bad key: up to METRICS_REQUEST_MAX points that came with it
    would be lost. So the client refuses the key at `log`, naming it, and the other points still go."""
    run = Run(client, {"id": 7}, flush_interval_s=None)
    run.log({"loss": 0.5}, step=1)
    with pytest.raises(ValueError, match=r"metric key .*(characters|allowed)"):
        run.log({"loss": 0.4, key: 1.0}, step=2)
    run.finish()
    assert sorted(api.metrics) == [(7, "loss", 1)]


def test_the_client_refuses_exactly_the_keys_the_server_refuses() -> None:
    from pydantic import TypeAdapter, ValidationError

    from server.schemas import MetricKey
    from trainboard.metric_keys import key_problem

    server = TypeAdapter(MetricKey)
    keys = [
        "loss",
        "eval/acc:top-1.x",
        "a" * 250,
        "a" * 251,
        "",
        "val loss",
        "loss\n",
        "\nloss",
        "é",
        "x\x00",
    ]
    keys += [chr(c) for c in range(32, 127)]
    for key in keys:
        try:
            server.validate_python(key)
            accepted = True
        except ValidationError:
            accepted = False
        assert (key_problem(key) is None) == accepted, key


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_run_refuses_non_finite_values(client: Client, value: float) -> None:
    run = Run(client, {"id": 7}, flush_interval_s=None)
    with pytest.raises(ValueError, match="'dev_error'"):
        run.log({"train_error": 0.1, "dev_error": value})
    run.finish()


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        (
            {"dev_error": 8.0},
            "dev_error is 8.0: error rates are fractions in [0, 1], 0.08 meaning 8 % (for 8 %, log 0.08)",
        ),
        ({"train_error": -0.1}, "train_error is -0.1: error rates are fractions in [0, 1]"),
        (
            {"dev_examples": 270.5},
            "dev_examples is 270.5: a split size is a whole number of examples, at least 1",
        ),
    ],
)  # fmt: skip
def test_run_refuses_canonical_keys_out_of_range_at_log_time(
    api: FakeApi, client: Client, metrics: dict, message: str
) -> None:
    run = Run(client, {"id": 7}, flush_interval_s=None)
    with pytest.raises(ValueError, match=re.escape(message)):
        run.log({"loss": 0.3, **metrics})
    run.log({"dev_error": 0.08, "dev_examples": 270, "accuracy": 92.0})  # a fraction, a size, any other key
    run.finish()
    assert api.metric_posts == [3]


def test_run_accepts_numpy_scalars(api: FakeApi, client: Client) -> None:
    import numpy as np

    run = Run(client, {"id": 7}, flush_interval_s=None)
    run.log({"a": np.float32(0.25)}, step=np.int64(2))
    run.finish()
    assert api.metrics[(7, "a", 2)] == 0.25


def test_run_context_manager_marks_failures(api: FakeApi, client: Client) -> None:
    with pytest.raises(RuntimeError), Run(client, {"id": 7}, flush_interval_s=None) as run:
        run.log({"a": 1.0})
        raise RuntimeError("loader crashed\nmore detail")
    assert api.finished[7] == ("failed", "RuntimeError: loader crashed")
    assert api.metrics[(7, "a", 1)] == 1.0


def test_run_finish_twice_is_a_no_op(api: FakeApi, client: Client) -> None:
    run = Run(client, {"id": 7}, flush_interval_s=None)
    run.finish()
    run.finish("failed")
    assert api.finished[7] == ("succeeded", None)
    assert sum(r.url.path.endswith("/finish") for r in api.requests) == 1


def test_run_at_exit_finishes_an_open_run(api: FakeApi, client: Client) -> None:
    run = Run(client, {"id": 7}, flush_interval_s=None)
    run.log({"a": 1.0})
    run._at_exit()
    assert api.finished[7] == ("succeeded", None) and api.metric_posts == [1]
