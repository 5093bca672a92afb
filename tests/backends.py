"""Where the tests find PostgreSQL and Redis, and how they skip (outside CI) or fail (in CI) without them."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import Engine, create_engine, text

IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_url() -> str:
    return os.environ.get("TRAINBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def redis_url() -> str:
    return os.environ.get("TRAINBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


def reachable(url: str) -> bool:
    parsed = urlparse(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 0), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, url: str) -> None:
    """Skip (outside CI) or fail (with CI=true) when the service at `url` does not answer."""
    if reachable(url):
        return
    message = f"{name} is not reachable at {url}; start it or set the TRAINBOARD_TEST_* URL"
    if IN_CI:
        pytest.fail(message + " (CI=true: services are required)")
    pytest.skip(message)


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema, dropped afterwards: the test database's URL with its search_path
    set to it, so that what runs there stays off the shared database's other tables and off each other's."""
    from server.db import make_engine

    url = postgres_url()
    require_service("PostgreSQL", url)
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def migrated_postgres_schema(prefix: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL schema (``postgres_schema``) migrated to head."""
    from server.migrate import upgrade

    with postgres_schema(prefix) as url:
        engine = create_engine(url)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


def run_coroutine(coroutine: Any) -> Any:
    """`asyncio.run` on a thread of its own: the browser tests' session-wide Playwright keeps an event loop
    running on the main thread, and `asyncio.run` refuses to start beside a running loop."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="test-event-loop")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
