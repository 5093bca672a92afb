"""Writes that race: the same tag, project name or Idempotency-Key sent at once, and two checkpoints of one
run uploaded at once. Threads against the app with a session per request on a file-backed SQLite and on
PostgreSQL: never a 500, one row, and a stored checkpoint that is one of the two uploads, whole."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from server.app import create_app
from server.db import get_session, make_engine
from server.services.checkpoint_files import checkpoint_path
from server.tables import Project, Run, Tag
from tests.backends import migrated_postgres_schema, run_coroutine

CALLERS = 8


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = tmp_path / "races.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        sqlite = make_engine(f"sqlite:///{path}")
        yield sqlite
        sqlite.dispose()
        return
    with migrated_postgres_schema("tb_races") as postgres:
        yield postgres


@pytest.fixture
def live_app(engine: Engine) -> FastAPI:
    """The app with a session of its own per request, as in production (the suite's shared session cannot
    serve two threads)."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)

    async def session_per_request() -> AsyncIterator[Session]:
        with factory() as session:
            yield session

    app = create_app(run_reaper=False)
    app.dependency_overrides[get_session] = session_per_request
    return app


def at_once(app: FastAPI, send: Callable[[TestClient], httpx.Response]) -> list[int]:
    """The statuses of CALLERS threads sending the same request as close together as a barrier allows."""
    start = threading.Barrier(CALLERS)
    statuses: list[int] = []

    def caller() -> None:
        client = TestClient(app, raise_server_exceptions=False)  # its own event loop, in this thread
        start.wait()
        statuses.append(send(client).status_code)

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(statuses)


def count(engine: Engine, query: object) -> int:
    with Session(engine) as session:
        return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def a_project(app: FastAPI, name: str = "races") -> int:
    with TestClient(app) as client:
        response = client.post("/api/v1/projects", json={"name": name, "dataset": "external"})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def test_the_same_tag_created_at_once_is_one_tag_and_conflicts(live_app: FastAPI, engine: Engine) -> None:
    project_id = a_project(live_app)
    url = f"/api/v1/projects/{project_id}/tags"
    for name in ("blurry", "dark", "cropped"):
        body = {"name": name}
        statuses = at_once(live_app, lambda c, body=body: c.post(url, json=body))  # type: ignore[misc]
        assert statuses == [201] + [409] * (CALLERS - 1), name
        assert count(engine, select(func.count()).select_from(Tag).where(Tag.name == name)) == 1


def test_the_same_project_name_at_once_is_one_project_and_conflicts(
    live_app: FastAPI, engine: Engine
) -> None:
    body = {"name": "twins", "dataset": "external"}
    statuses = at_once(live_app, lambda c: c.post("/api/v1/projects", json=body))
    assert statuses == [201] + [409] * (CALLERS - 1)
    assert count(engine, select(func.count()).select_from(Project)) == 1


def test_the_same_idempotency_key_at_once_makes_one_project_and_one_run(
    live_app: FastAPI, engine: Engine
) -> None:
    key = {"Idempotency-Key": "retry-1"}
    body = {"name": "once", "dataset": "external"}
    projects = at_once(live_app, lambda c: c.post("/api/v1/projects", json=body, headers=key))
    assert projects == [201] * CALLERS
    project_id = count(engine, select(func.max(Project.id)))
    run = {"project_id": project_id, "external": True}
    runs = at_once(live_app, lambda c: c.post("/api/v1/runs", json=run, headers={"Idempotency-Key": "run-1"}))
    assert runs == [201] * CALLERS
    assert count(engine, select(func.count()).select_from(Project)) == 1
    assert count(engine, select(func.count()).select_from(Run)) == 1


def test_two_checkpoints_uploaded_at_once_store_one_of_them_whole(live_app: FastAPI) -> None:
    project_id = a_project(live_app, "checkpoints")
    with TestClient(live_app) as client:
        run_id = client.post("/api/v1/runs", json={"project_id": project_id, "external": True}).json()["id"]
    first, second = b"A" * (3 * 65536 + 5), b"B" * (2 * 65536)  # different lengths: a mix shows

    async def upload(body: bytes) -> int:
        """One PUT whose body arrives 64 KiB at a time, yielding between chunks so the two interleave."""
        chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
        status = 0

        async def receive() -> dict[str, object]:
            await asyncio.sleep(0.01)
            chunk = chunks.pop(0) if chunks else b""
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

        async def send(message: dict[str, object]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])  # type: ignore[call-overload]

        path = f"/api/v1/runs/{run_id}/checkpoint"
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "path": path,
            "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http", "headers": [],
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        }  # fmt: skip
        await live_app(scope, receive, send)  # type: ignore[arg-type]
        return status

    async def both() -> list[int]:
        return list(await asyncio.gather(upload(first), upload(second)))

    assert run_coroutine(both()) == [204, 204]
    assert checkpoint_path(run_id).read_bytes() in (first, second)
    assert list(checkpoint_path(run_id).parent.glob("*.part*")) == []


def test_repeat_with_seeds_at_once_never_gives_two_copies_one_seed(live_app: FastAPI, engine: Engine) -> None:
    with TestClient(live_app) as client:
        project = client.post("/api/v1/projects", json={"name": "seeds", "dataset": "digits"}).json()
        run = client.post("/api/v1/runs", json={"project_id": project["id"], "config": {}}).json()
    statuses = at_once(live_app, lambda c: c.post(f"/api/v1/runs/{run['id']}/repeat", json={"seeds": 2}))
    assert statuses == [201] * CALLERS
    with Session(engine) as session:
        copies = session.scalars(select(Run).where(Run.parent_id == run["id"])).all()
        seeds = [copy.config["hparams"]["seed"] for copy in copies]
        groups = {copy.group for copy in copies}
    assert len(copies) == 2 * CALLERS
    assert len(set(seeds)) == len(seeds), sorted(seeds)  # a seed group of distinct seeds
    assert len(groups) == 1
