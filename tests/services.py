"""Where the tests find PostgreSQL and Redis, and how they skip (outside CI) or fail (in CI) without them."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

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
