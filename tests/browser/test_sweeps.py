"""Build a sweep in the form, watch a real worker finish its trials, and open the best one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.pages.sweep_form import param_rows
from tests.browser.conftest import screenshot
from tests.processes import server_process, trainboard_env, worker_process

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

HIDDEN = next(i for i, row in enumerate(param_rows("mlp")) if row.path == "model.hidden")


@pytest.fixture
def server_with_worker(tmp_path: Path) -> Iterator[str]:
    env = trainboard_env(tmp_path / "home", reaper_interval_s="2")
    with (
        server_process(env, tmp_path / "server.log") as url,
        worker_process(env, url, tmp_path / "worker.log"),
    ):
        yield url


def test_build_a_sweep_watch_it_finish_and_open_the_best(browser, server_with_worker: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    project = httpx.post(
        f"{server_with_worker}/api/v1/projects", json={"name": "sweep in browser", "dataset": "digits"}
    ).json()
    context = browser.new_context(base_url=server_with_worker, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(f"/projects/{project['id']}/sweeps/new")
        expect(page.get_by_role("heading", name="New sweep")).to_be_visible()
        # The learning rate is ticked by default; its preview draws on a log axis.
        expect(page.locator("#preview_0 .main-svg").first).to_be_attached(timeout=15_000)
        page.locator("#low_0").fill("0.001")
        page.locator("#high_0").fill("0.1")
        page.locator(f"#on_{HIDDEN}").check()
        page.locator(f"#choices_{HIDDEN}").fill("[16]; [32]")
        expect(page.locator(f"#preview_{HIDDEN} .main-svg").first).to_be_attached(timeout=15_000)
        page.locator("#name").fill("browser sweep")
        page.locator("#trials").fill("3")
        page.locator("#parallelism").fill("2")
        page.locator("#base_epochs").fill("2")
        page.locator("#base_hidden").fill("16")
        screenshot(page, "sweep-01-form")
        # The page's first poll fails (a busy server's 503): it must try again, not stop and say "running".
        failed: list[str] = []

        def fail_once(route):  # type: ignore[no-untyped-def]
            if failed:
                route.continue_()
            else:
                failed.append(route.request.url)
                route.fulfill(status=503, body="busy")

        page.route(re.compile(r"/api/v1/sweeps/\d+$"), fail_once)
        page.get_by_role("button", name="Start sweep").click()

        expect(page).to_have_url(re.compile(r"/sweeps/\d+$"))
        expect(page.locator(".message-success")).to_have_text("Sweep 'browser sweep' started.")
        expect(page.locator("#sweep-status .badge")).to_have_text("finished", timeout=240_000)
        expect(page.locator("#trials tbody tr")).to_have_count(3)
        assert len(failed) == 1
        expect(page.locator("#parcoords svg.parallel")).to_be_visible(timeout=15_000)
        screenshot(page, "sweep-02-finished")

        page.locator("#trials thead th", has_text="hparams.lr").click()
        expect(page.locator("#trials thead th[aria-sort]")).to_have_attribute("aria-sort", "ascending")

        best = page.locator("#best-link")
        name = best.inner_text()
        best.click()
        expect(page).to_have_url(re.compile(r"/runs/\d+$"))
        expect(page.get_by_role("heading", name=name)).to_be_visible()
        screenshot(page, "sweep-03-best-run")
        assert problems == []
    finally:
        context.close()
