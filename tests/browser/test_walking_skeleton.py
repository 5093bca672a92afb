"""The walking skeleton in a browser: a new user creates a project, submits a run from the form, and a
real Celery worker trains it while the run page draws its learning curves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import screenshot
from tests.processes import server_process, trainboard_env, worker_process

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def trainboard_with_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("skeleton-home")
    env = trainboard_env(home)
    with server_process(env, home / "server.log") as url, worker_process(env, url, home / "worker.log"):
        yield url


def test_submit_from_the_form_and_watch_the_run_finish(browser, trainboard_with_worker: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=trainboard_with_worker, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto("/")
    page.get_by_label("Name", exact=True).fill("Handwritten digits")
    page.get_by_label("Human-level error (%)").fill("0.5")
    page.get_by_role("button", name="Create project").click()
    page.locator("a.button", has_text="New run").click()
    page.locator("#hp_epochs").fill("8")
    page.locator("#name").fill("baseline-mlp")
    page.get_by_role("button", name="Queue run").click()

    page.wait_for_url("**/runs/*")
    # The worker trains it; the page follows the run live and shows it finished without a manual reload.
    page.locator(".badge", has_text="succeeded").first.wait_for(timeout=120_000)
    chart = page.locator("#error-chart")
    chart.locator("g.trace").first.wait_for(timeout=10_000)
    assert chart.locator("g.trace").count() >= 3  # train, train-dev and dev error at least
    assert "baseline-mlp" in page.content()
    screenshot(page, "10-skeleton-run-finished")

    page.get_by_role("link", name="Handwritten digits").first.click()
    row = page.locator("#runs tr", has_text="baseline-mlp")
    row.locator(".badge", has_text="succeeded").wait_for()
    headers = [h.strip() for h in page.locator("#runs thead th").all_inner_texts()]
    column = next(i for i, h in enumerate(headers) if h.startswith("Dev error"))
    dev_error = float(row.locator("td").nth(column).inner_text().replace("%", "").strip()) / 100
    assert dev_error < 0.10
    screenshot(page, "11-skeleton-project")
    assert errors == []
    context.close()
