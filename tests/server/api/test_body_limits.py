"""Request bodies are bounded before they are read, and with auth on an anonymous write is refused before a
byte of its body is read. Bytes read are counted at the ASGI boundary (what the server pulled), not timed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.api.deps import parse_json_body
from server.api.metrics_body import METRICS_MAX_VALUES
from server.auth import SAFE_METHODS, current_principal
from server.body_guard import BATCH_BODY_BYTES, DEFAULT_BODY_BYTES
from server.schemas import MetricsIn
from tests.backends import run_coroutine
from tests.factories import make_project, make_run
from tests.server.accounts import auth_turned_on, make_user, token_for

MIB = 1024 * 1024


@dataclass
class Answer:
    status: int
    body: bytes
    bytes_read: int

    def detail(self) -> object:
        return json.loads(self.body)["detail"]


def call(app: FastAPI, method: str, path: str, chunks: Iterator[bytes], **headers: str) -> Answer:
    """One request straight into the app; the body offered chunk by chunk, counting what the app pulls."""
    pulled, status, body = 0, 0, bytearray()
    finished = False

    async def receive() -> dict[str, object]:
        nonlocal pulled, finished
        chunk = None if finished else next(chunks, None)
        if chunk is None:
            if finished:
                await asyncio.sleep(3600)  # a listener for a disconnect that never comes
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))  # type: ignore[arg-type]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip
    run_coroutine(app(scope, receive, send))
    return Answer(status, bytes(body), pulled)


def offered(total: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    block = b" " * chunk  # whitespace: valid JSON padding, so only the size can refuse it
    for _ in range(total // chunk):
        yield block


def test_an_ordinary_body_past_its_limit_by_content_length_is_refused_unread(app: FastAPI) -> None:
    answer = call(app, "POST", "/api/v1/projects", offered(4 * MIB), content_length=str(4 * MIB))
    assert answer.status == 413
    assert answer.detail() == "The request body is larger than the 1 MiB limit of POST /api/v1/projects"
    assert answer.bytes_read == 0


def test_a_chunked_body_without_content_length_is_refused_once_past_the_limit(app: FastAPI) -> None:
    answer = call(app, "POST", "/api/v1/projects", offered(20 * MIB), content_type="application/json")
    assert answer.status == 413
    assert DEFAULT_BODY_BYTES < answer.bytes_read <= DEFAULT_BODY_BYTES + 256 * 1024  # not the 20 MiB offered


def test_a_metrics_batch_may_be_larger_but_is_bounded_too(app: FastAPI, session: Session) -> None:
    run = make_run(session, make_project(session), status="running")
    answer = call(app, "POST", f"/api/v1/runs/{run.id}/metrics", offered(64 * MIB, MIB))
    assert answer.status == 413
    assert "32 MiB limit" in str(answer.detail())
    assert BATCH_BODY_BYTES < answer.bytes_read <= BATCH_BODY_BYTES + MIB


def test_the_batch_limit_holds_the_largest_batch_the_schema_allows_in_practice() -> None:
    point = {"key": "train_dev_error/" + "x" * 40, "step": 10**9, "value": 0.123456789012345678}
    point["timestamp"] = "2026-12-01T12:34:56.123456+00:00"
    assert len(json.dumps({"metrics": [point] * 100_000})) < BATCH_BODY_BYTES


@pytest.mark.parametrize("token", [None, ""], ids=["no header", "empty bearer"])
def test_with_auth_on_an_anonymous_100_mb_post_is_a_401_without_reading_it(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    run = make_run(session, make_project(session), status="running")
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    with auth_turned_on(monkeypatch):
        for path in ("/api/v1/projects", f"/api/v1/runs/{run.id}/metrics", "/api/v1/datasets"):
            chunked = call(app, "POST", path, offered(100 * MIB, MIB), **headers)
            declared = call(
                app, "POST", path, offered(100 * MIB, MIB), content_length=str(100 * MIB), **headers
            )
            assert (chunked.status, chunked.bytes_read) == (401, 0), path
            assert (declared.status, declared.bytes_read) == (401, 0), path


def test_with_auth_on_a_wrong_token_on_a_batch_route_is_a_401_before_the_body(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(session, make_project(session), status="running")
    with auth_turned_on(monkeypatch):
        answer = call(
            app, "POST", f"/api/v1/runs/{run.id}/metrics", offered(30 * MIB, MIB), authorization="Bearer nope"
        )
    assert (answer.status, answer.bytes_read) == (401, 0)


def test_with_auth_on_a_user_still_logs_metrics(
    app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(session, make_project(session), status="running")
    body = json.dumps({"metrics": [{"key": "dev_error", "step": 1, "value": 0.5}]}).encode()
    with auth_turned_on(monkeypatch):
        token = token_for(session, make_user(session, "admin", is_admin=True))
        answer = call(
            app, "POST", f"/api/v1/runs/{run.id}/metrics", iter([body]),
            authorization=f"Bearer {token}", content_length=str(len(body)), content_type="application/json",
        )  # fmt: skip
    assert answer.status == 200, answer.body
    assert json.loads(answer.body) == {"accepted": 1}


def test_every_api_write_authenticates_so_the_guard_may_refuse_anonymous_ones_early(app: FastAPI) -> None:
    """The guard refuses an anonymous write under /api/ before its body: each such route must need a login."""

    def needs_login(dependant) -> bool:  # type: ignore[no-untyped-def]
        return any(d.call is current_principal or needs_login(d) for d in dependant.dependencies)

    open_writes = [
        f"{sorted(context.methods)} {context.path}"
        for context in iter_route_contexts(app.routes)
        if (context.path or "").startswith("/api/")
        and set(context.methods or ()) - SAFE_METHODS
        and not needs_login(context.dependant)
    ]
    assert open_writes == []


def test_a_batch_of_more_values_than_its_cap_allows_is_refused_before_parsing(
    client: TestClient, session: Session
) -> None:
    """Pydantic parses the whole body before it checks a list's length: 32 MiB of numbers cost 1 GB."""
    run = make_run(session, make_project(session), status="running")
    url = f"/api/v1/runs/{run.id}/metrics"
    numbers = b'{"metrics": [], "padding": [' + b"1," * 4_000_000 + b"1]}"
    twice_the_cap = json.dumps({"metrics": [{"key": "k", "step": i, "value": 0} for i in range(200_000)]})
    for body in (numbers, twice_the_cap.encode()):
        response = client.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413, response.text[:200]
        assert f"more than {METRICS_MAX_VALUES:,} JSON values" in response.json()["detail"]


def test_the_value_budget_admits_a_full_batch_with_timestamps() -> None:
    point = {"key": "train_dev_error", "step": 10**9, "value": 0.1, "timestamp": "2026-12-01T12:34:56+00:00"}
    body = json.dumps({"metrics": [point] * 100_000}).encode()
    assert len(parse_json_body(MetricsIn, body, max_values=METRICS_MAX_VALUES).metrics) == 100_000
