"""Error analysis in the browser: filter the mistakes, tag three from the keyboard, watch the counts move."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def _run_with_mistakes(url: str) -> tuple[int, int]:
    """A digits project and an external run whose dev predictions get every third example wrong."""
    with httpx.Client(base_url=f"{url}/api/v1") as api:
        project = api.post("/projects", json={"name": "Digits errors", "dataset": "digits"}).json()
        run = api.post("/runs", json={"project_id": project["id"], "external": True, "name": "mlp-64"}).json()
        predictions = [
            {
                "example_id": f"digits-{i}",
                "label": i % 10,
                "predicted": (i + 3) % 10 if i % 3 == 0 else i % 10,
                "confidence": 0.5 + (i % 50) / 100,
            }
            for i in range(0, 300)
        ]
        api.post(f"/runs/{run['id']}/predictions", json={"split": "dev", "predictions": predictions})
        api.post(f"/projects/{project['id']}/tags", json={"name": "blurry"})
    return project["id"], run["id"]


def test_filter_and_tag_errors_with_the_keyboard(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    _, run_id = _run_with_mistakes(live_server)
    page.goto(f"/runs/{run_id}")
    page.locator("#error-analysis-link").click()
    expect(page.get_by_role("heading", name=re.compile("Error analysis"))).to_be_visible()
    expect(page.locator('[data-count="errors"]')).to_have_text("100")
    page.wait_for_function("window.Plotly !== undefined")
    expect(page.locator("#confusion .main-svg").first).to_be_visible()

    page.get_by_label("True label").fill("3")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"label=3"))
    rows = page.locator("#errors tbody tr")
    expect(rows).to_have_count(10)
    expect(rows.first.locator("td").nth(2)).to_have_text("3")
    image = rows.first.locator("td.example img")
    expect(image).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) == 48
    screenshot(page, "30-errors")

    # Select three rows from the keyboard (x, j, x, j, x) and toggle tag 2 ("blurry"; 1 is "mislabeled").
    page.locator("body").click(position={"x": 5, "y": 5})
    for key in ("x", "j", "x", "j", "x"):
        page.keyboard.press(key)
    expect(page.locator("#selection-count")).to_have_text("3 selected")
    page.keyboard.press("2")
    expect(page.locator("#errors tbody tr.selected td.tags")).to_have_text(["blurry"] * 3)
    expect(page.locator("#tag-counts tbody tr").first).to_contain_text("blurry")
    expect(page.locator("#tag-counts tbody tr").first.locator("td").nth(1)).to_have_text("3")
    expect(page.locator('[data-count="untagged_errors"]')).to_have_text("97")

    # A new tag typed on the fly, on the row under the cursor only.
    page.keyboard.press("Escape")
    page.keyboard.press("t")
    page.locator("#new-tag").fill("thin strokes")
    page.keyboard.press("Enter")
    expect(page.locator("#tag-counts")).to_contain_text("thin strokes")
    expect(page.locator("#palette")).to_contain_text("thin strokes")
    expect(page.locator('[data-count="untagged_errors"]')).to_have_text(
        "97"
    )  # the cursor row was tagged already
    expect(page.locator("#pareto .bars path")).to_have_count(2)
    screenshot(page, "31-errors-tagged")

    # With nothing selected, "Mark reviewed" puts the ten rows shown into the reviewed sample; the
    # seven without a category form the "reviewed, no tag" row, redrawn by the server.
    page.keyboard.press("Escape")
    page.locator("#mark-reviewed").click()
    expect(page.locator('[data-count="reviewed_errors"]')).to_have_text("10")
    expect(page.locator("#tag-counts tr.other td").nth(1)).to_have_text("7")
    expect(page.locator("#reviewed-note")).to_contain_text("estimated from 10 reviewed errors (of 100)")

    # The counts survive a reload: they come from the server.
    page.reload()
    expect(page.locator("#tag-counts tbody tr").first.locator("td").nth(1)).to_have_text("3")
    expect(page.locator("#tag-counts tr.other td").nth(1)).to_have_text("7")
    assert page.problems == []  # type: ignore[attr-defined]
