"""A real server process for the integration tests: the frameworks' own training loops report to it through
the client library, over HTTP, as a user's script does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import server_process, trainboard_env
from trainboard.client import Client

# No download, ever: every model and dataset here is built in code.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="package")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("integrations")
    with server_process(trainboard_env(home), home / "server.log") as url:
        yield url


@pytest.fixture
def api(server_url: str) -> Iterator[httpx.Client]:
    """Reads what the server stored."""
    with httpx.Client(base_url=f"{server_url}/api/v1", timeout=30) as http:
        yield http


@pytest.fixture
def tb_client(server_url: str) -> Iterator[Client]:
    """What the integrations send through."""
    with Client(server_url, token="") as client:
        yield client
