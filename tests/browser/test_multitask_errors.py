"""Per-task error analysis in a browser: the error-analysis page's task picker switches the table, the
counts and the confusion matrix, and the URL remembers the task."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.browser.conftest import screenshot
from trainboard.datasets import DATASETS, load_splits

pytestmark = pytest.mark.browser

TASKS = DATASETS["digits-tasks"].tasks
#: Every n-th labelled dev entry of the task is predicted wrong: `even` gets few errors, `prime` many.
WRONG_EVERY = {"even": 20, "above_4": 10, "loop": 8, "prime": 4}


def _predictions() -> tuple[list[dict[str, Any]], dict[str, int]]:
    dev = load_splits("digits-tasks").dev
    rows, wrong = [], dict.fromkeys(TASKS, 0)
    for k, task in enumerate(TASKS):
        labelled = [i for i in range(len(dev.y)) if dev.y[i, k] >= 0]
        for n, i in enumerate(labelled):
            label = int(dev.y[i, k])
            miss = n % WRONG_EVERY[task] == 0
            wrong[task] += miss
            rows.append(
                {
                    "example_id": str(dev.ids[i]),
                    "task": task,
                    "label": label,
                    "predicted": 1 - label if miss else label,
                    "confidence": 0.6 + (n % 4) / 10,
                }
            )
    return rows, wrong


def test_task_picker_switches_the_error_analysis(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post(
        "/projects", json={"name": f"task-errors-{uuid.uuid4().hex[:4]}", "dataset": "digits-tasks"}
    ).json()
    run = api.post("/runs", json={"project_id": project["id"], "external": True, "name": "shared"}).json()
    rows, wrong = _predictions()
    api.post(f"/runs/{run['id']}/predictions", json={"split": "dev", "predictions": rows}).raise_for_status()

    page.goto(f"/runs/{run['id']}/errors")  # no task: the page opens on the first one
    expect(page.locator("#errors-scope")).to_have_text("(dev split, task even)")
    expect(page.locator('[data-count="errors"]')).to_have_text(str(wrong["even"]))

    page.locator("#task-picker").get_by_role("link", name="prime").click()
    expect(page).to_have_url(re.compile(r"task=prime"))
    expect(page.locator("#task-picker a.current")).to_have_text("prime")
    expect(page.locator("#errors-scope")).to_have_text("(dev split, task prime)")
    expect(page.locator('[data-count="errors"]')).to_have_text(str(wrong["prime"]))
    expect(page.locator("#confusion .main-svg").first).to_be_visible()

    # Tagging on the prime page recounts prime's errors (the counts the page fetches carry the task).
    page.locator("#errors tbody tr").first.click()
    page.keyboard.press("1")
    expect(page.locator("#tag-counts tbody tr").first.locator("td").nth(1)).to_have_text("1")
    expect(page.locator('[data-count="untagged_errors"]')).to_have_text(str(wrong["prime"] - 1))

    # The split tabs and the filter keep the task.
    page.locator(".split-tabs").get_by_role("link", name="test").click()
    expect(page).to_have_url(re.compile(r"split=test&task=prime"))
    page.go_back()
    page.locator("#filters").get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"task=prime"))
    screenshot(page, "66-multitask-error-analysis")
    assert page.problems == []  # type: ignore[attr-defined]
