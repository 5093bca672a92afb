"""A real server (uvicorn in a subprocess) and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, trainboard_env, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path("/tmp/tb-shots")


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve(home: Path, command: list[str], **settings: str) -> Iterator[str]:
    """A server process (`command` gets `--port N`) on a free port, with a freshly migrated database."""
    env = trainboard_env(home, **settings)
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "trainboard.cli", "db", "upgrade"], env=env, cwd=root, check=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *command, "--port", str(port)],
            env={**env, "TRAINBOARD_SERVER_URL": url},
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: process.poll() is not None or _up(url), 60, "the server to start")
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`uvicorn --factory server.app:create_app` on a free port with a freshly migrated database."""
    home = tmp_path_factory.mktemp("browser-home")
    with serve(home, ["uvicorn", "--factory", "server.app:create_app"]) as url:
        yield url


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """Chromium from Debian; skipped when it is not installed, except in CI where that is a failure."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def open_page(browser, base_url: str) -> Iterator:  # type: ignore[no-untyped-def,type-arg]
    """A fresh page on `base_url` that collects JavaScript errors and CSP violations in `page.problems`."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # Expected 4xx: a metric not logged yet (404) and a form sent back with its errors (422).
    expected = re.compile(r"Failed to load resource: .* status of (404|422)")
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and not expected.search(message.text)
            else None
        ),
    )
    page.problems = problems  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, live_server: str):  # type: ignore[no-untyped-def]
    """A fresh page that fails the test on a JavaScript error or a CSP violation."""
    with open_page(browser, live_server) as page:
        yield page


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
