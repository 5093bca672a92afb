"""Sweep your own script in the browser: build the sweep in the form, copy the agent command from its page,
let an agent run the trials, then "Try next" on the best trial hands its copy to an agent too."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.browser.conftest import open_page, screenshot
from tests.processes import server_process, trainboard_env

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SCRIPT = Path(__file__).resolve().parents[1] / "tiny_train.py"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = trainboard_env(tmp_path / "home")
    with server_process(env, tmp_path / "server.log") as url:
        yield url, {**env, "TRAINBOARD_SERVER_URL": url}


def reload(page: Page) -> None:
    """Reload the sweep page, unless it is reloading itself: its poll reloads it whenever the sweep changes,
    and a reload asked for at that moment is aborted by the page's own."""
    try:
        page.reload()
    except PlaywrightError as exc:
        if "ERR_ABORTED" not in str(exc):
            raise


def run_agent(env: dict[str, str], command: str) -> str:
    """Run the command the page shows (its `python train.py` standing for the test's script)."""
    words = command.split()
    assert words[1:3] == ["trainboard", "agent"] and words[4:] == ["--", "python", "train.py"], words
    agent = [sys.executable, "-m", "trainboard.cli", "agent", words[3], "--", sys.executable, str(SCRIPT)]
    done = subprocess.run(agent, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done.stderr.decode()


def test_sweep_a_script_from_the_form_and_try_next_on_its_best(browser, server) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    url, env = server
    project = httpx.post(f"{url}/api/v1/projects", json={"name": "my script", "dataset": "external"}).json()
    with open_page(browser, url) as page:
        page.goto(f"/projects/{project['id']}/sweeps/new")
        expect(page.locator("#target")).to_have_value("script")
        expect(page.locator("#script-space")).to_be_visible()
        expect(page.locator("#sp_preview_0 .main-svg").first).to_be_attached(timeout=15_000)
        page.locator("#sp_low_0").fill("0.001")
        page.locator("#sp_high_0").fill("1")
        page.locator("#sp_path_1").fill("epochs")
        page.locator("#sp_dist_1").select_option("choice")
        page.locator("#sp_choices_1").fill("2")
        page.locator("#name").fill("lr search")
        page.locator("#trials").fill("4")
        screenshot(page, "script-sweep-01-form")
        page.get_by_role("button", name="Start sweep").click()

        expect(page).to_have_url(re.compile(r"/sweeps/\d+$"))
        command = page.locator("#agent-command").inner_text()
        screenshot(page, "script-sweep-02-command")
        run_agent(env, command)
        reload(page)
        expect(page.locator("#sweep-status .badge")).to_have_text("finished", timeout=30_000)
        expect(page.locator("#trials tbody tr")).to_have_count(4)
        expect(page.locator("#agent")).to_have_count(0)  # nothing left to run
        screenshot(page, "script-sweep-03-finished")

        page.locator("#best-link").click()
        expect(page).to_have_url(re.compile(r"/runs/\d+$"))
        best_id = int(page.url.rsplit("/", 1)[1])
        try_next = page.locator("form.try-next button").first
        expect(try_next).to_be_visible()
        screenshot(page, "script-sweep-04-best-run")
        try_next.click()
        expect(page).to_have_url(re.compile(r"/sweeps/\d+$"))
        expect(page.locator(".message-success")).to_contain_text(f"The copy of run #{best_id}")
        expect(page.locator("#agent-command")).to_contain_text("trainboard agent")
        screenshot(page, "script-sweep-05-try-next")
        output = run_agent(env, page.locator("#agent-command").inner_text())
        assert "trainboard agent: run #" in output
        reload(page)
        expect(page.locator("#sweep-status .badge")).to_have_text("finished", timeout=30_000)
        child = page.locator("#trials tbody tr a").first
        child.click()
        expect(page.locator(f'a[href="/runs/{best_id}"]').first).to_be_visible()  # parent run #best
        screenshot(page, "script-sweep-06-child")
        assert page.problems == []  # type: ignore[attr-defined]
