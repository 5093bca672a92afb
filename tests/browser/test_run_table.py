"""The project's runs table in Chromium: the filter box, the name search, picked columns, a seed group's
row expanding, bulk tag/archive; the run page's rename, archive and artifacts."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def seed(live_server: str, project_name: str) -> tuple[int, dict[str, int]]:
    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post("/projects", json={"name": project_name, "dataset": "external"}).json()
    ids: dict[str, int] = {}
    specs = [
        ("baseline-a", {"lr": 0.001, "opt": "adam"}, {"dev_error": 0.04, "val/f1": 0.91}, ["baseline"], None),
        ("baseline-b", {"lr": 0.1, "opt": "sgd"}, {"dev_error": 0.09, "val/f1": 0.80}, ["baseline"], None),
        ("seed-1", {"lr": 0.01, "opt": "adam"}, {"dev_error": 0.05, "val/f1": 0.88}, [], "lr-0.01"),
        ("seed-2", {"lr": 0.01, "opt": "adam"}, {"dev_error": 0.07, "val/f1": 0.86}, [], "lr-0.01"),
    ]
    for name, params, metrics, tags, group in specs:
        body = {"project_id": project["id"], "external": True, "name": name, "params": params, "tags": tags}
        run = api.post("/runs", json={**body, "group": group}).json()
        points = [{"key": k, "value": v, "step": 1} for k, v in metrics.items()]
        api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).raise_for_status()
        api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}).raise_for_status()
        ids[name] = run["id"]
    api.put(f"/runs/{ids['baseline-a']}/artifacts/model/best.pt", content=b"\0" * 5000).raise_for_status()
    return project["id"], ids


def test_filter_columns_groups_and_bulk_actions(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    project_id, ids = seed(live_server, "table-features")
    page.goto(f"/projects/{project_id}")
    rows = page.locator("#runs tbody tr:visible")
    expect(rows).to_have_count(3)  # two plain runs and the folded group
    group = page.locator('tr[data-group-row="lr-0.01"]')
    expect(group.locator('[data-group-metric="dev_error"]')).to_have_text("6.00 ± 1.41 %")
    group.get_by_role("button").click()
    expect(rows).to_have_count(5)
    expect(page.locator('tr.group-member[data-group="lr-0.01"]').first).to_be_visible()

    page.locator("#columns-picker summary").click()
    page.locator('input[name=col][value="params.opt"]').check()
    page.locator('input[name=col][value="metrics.val/f1"]').check()
    page.locator("#q-input").fill(
        'params.lr < 0.05 and metrics.dev_error < 0.06 and tags contains "baseline"'
    )
    page.locator("#run-query-submit").click()
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#runs tbody tr").first).to_contain_text("baseline-a")
    expect(page.locator('#runs td[data-picked="metrics.val/f1"]')).to_have_text("0.91")
    screenshot(page, "run-table-filter-columns")

    page.locator("#q-input").fill("metrics.dev_error < and")
    page.locator("#run-query-submit").click()
    expect(page.locator("#q-error")).to_contain_text("position 20")
    screenshot(page, "run-table-filter-error")

    page.goto(f"/projects/{project_id}")  # the columns stay without the URL naming them
    expect(page.locator('#runs th[data-picked="params.opt"]')).to_be_visible()
    page.locator("#search-input").fill("BASELINE")
    page.locator("#run-query-submit").click()
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    page.locator(f'input.compare-pick[value="{ids["baseline-b"]}"]').check()
    page.locator("#bulk-tag").fill("reviewed")
    page.locator("#bulk-tag-button").click()
    expect(page.locator(".message-success")).to_contain_text("Tagged 1 runs 'reviewed'")
    page.locator(f'input.compare-pick[value="{ids["baseline-b"]}"]').check()
    page.locator("#bulk-archive").click()
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    page.locator("#archived-toggle").check()
    page.locator("#run-query-submit").click()
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    expect(page.locator("#runs tbody tr").first).to_contain_text("reviewed")
    screenshot(page, "run-table-archived")
    assert page.problems == []


def test_run_page_rename_archive_and_artifacts(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _, ids = seed(live_server, "run-page-features")
    page.goto(f"/runs/{ids['baseline-a']}")
    row = page.locator('#artifacts-table tr[data-artifact="model/best.pt"]')
    expect(row).to_contain_text("4.9 KiB")
    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "best.pt"
    page.locator("#edit-notes summary").click()
    page.locator("#name-input").fill("baseline-a renamed")
    page.get_by_role("button", name="Save").first.click()
    expect(page.locator("h1")).to_contain_text("baseline-a renamed")
    page.locator("#archive-form button").click()
    expect(page.locator("#run-archived")).to_be_visible()
    screenshot(page, "run-page-archived-artifacts")
    page.locator("#archive-form button").click()
    expect(page.locator("#run-archived")).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"/runs/{ids['baseline-a']}$"))
    assert page.problems == []
