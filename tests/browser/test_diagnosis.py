"""The bias/variance page in a browser: the error ladder, "try next", the data-size curve, the leaderboard
and the compare page, on runs whose numbers are logged through the API (no worker needed)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

EPOCHS = 12
# Records the ids of the charts in the order they first get data-state="drawn".
DRAW_ORDER_SCRIPT = """
window.__drawOrder = [];
new MutationObserver(function (records) {
  records.forEach(function (r) {
    if (r.target.dataset && r.target.dataset.state === "drawn" && r.target.id
        && window.__drawOrder.indexOf(r.target.id) < 0) { window.__drawOrder.push(r.target.id); }
  });
}).observe(document, {attributes: true, attributeFilter: ["data-state"], subtree: true});
"""


def _train_like_a_script(
    api: Any, run_id: int, *, train: float, train_dev: float, dev: float, **once: float
) -> None:
    """Claim the run, log a learning curve that ends at these errors, and finish it."""
    api.post(f"/runs/{run_id}/start", json={"worker": "script"}).raise_for_status()
    points = [{"key": key, "step": 0, "value": value} for key, value in once.items()]
    for epoch in range(1, EPOCHS + 1):
        decay = 0.3 * (EPOCHS - epoch) / EPOCHS
        for key, final in (("train_error", train), ("train_dev_error", train_dev), ("dev_error", dev)):
            points.append({"key": key, "step": epoch, "value": min(1.0, final + decay)})
        points.append({"key": "train_loss", "step": epoch, "value": 3 * (train + decay)})
        points.append({"key": "dev_loss", "step": epoch, "value": 3 * (dev + decay)})
    api.post(f"/runs/{run_id}/metrics", json={"metrics": points}).raise_for_status()
    api.post(f"/runs/{run_id}/finish", json={"status": "succeeded"}).raise_for_status()


def _project(api: Any, **fields: Any) -> dict:
    body = {"name": f"bias-variance-{uuid.uuid4().hex[:6]}", "dataset": "digits", **fields}
    response = api.post("/projects", json=body)
    response.raise_for_status()
    return response.json()


def _run(api: Any, project_id: int, name: str, hparams: dict) -> dict:
    config = {"model": {"name": "mlp", "hidden": [32]}, "hparams": {"epochs": EPOCHS, "l2": 0.0, **hparams}}
    response = api.post("/runs", json={"project_id": project_id, "name": name, "config": config})
    response.raise_for_status()
    return response.json()


def test_ladder_and_try_next(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = _project(api, human_level_error=0.005)
    run = _run(api, project["id"], "baseline", {})
    sizes = {"train_examples": 1078, "train_dev_examples": 180, "dev_examples": 270, "test_examples": 270}
    _train_like_a_script(api, run["id"], train=0.01, train_dev=0.07, dev=0.09, **sizes)

    # The order the charts are drawn in: the curves at the top of the page first, the ladder further down
    # after them (the first Plotly draw of a page pays its set-up; it should not delay the first chart).
    page.add_init_script(DRAW_ORDER_SCRIPT)
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#ladder-chart svg.main-svg").first).to_be_visible()
    expect(page.locator("#ladder-chart")).to_have_attribute("data-state", "drawn")
    order = page.evaluate("window.__drawOrder")
    assert order.index("error-chart") < order.index("ladder-chart"), order
    assert order.index("loss-chart") < order.index("ladder-chart"), order
    expect(page.locator("#ladder-chart")).to_contain_text("Variance")
    expect(page.locator("#ladder-chart")).to_contain_text("(noise)")  # data mismatch, 2 points on 180 and 270
    expect(page.locator("#ladder-chart .errorbar")).to_have_count(4)  # an interval on each of the four bars
    expect(page.locator("#diagnosis-summary")).to_have_text(
        "Variance dominates: train-dev error is 6.0 points (± 4.0) above train error; "
        "reduce variance first (more data, regularisation)."
    )
    expect(page.locator("#gaps tr.primary")).to_contain_text("Variance")
    expect(page.locator('#gaps tr[data-gap="data_mismatch"]')).to_contain_text(
        "within noise (± 5.2 points on 270 dev and 180 train-dev examples)"
    )
    expect(page.locator("#error-chart")).to_contain_text("best dev")
    page.locator("#diagnosis").scroll_into_view_if_needed()
    screenshot(page, "20-diagnosis")

    page.get_by_role("button", name="Try next: L2 (0 -> 0.001)").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    assert not page.url.endswith(f"/runs/{run['id']}")
    expect(page.locator(".message-success")).to_contain_text("queued with hparams.l2 = 0.001")
    expect(page.locator("h1 .badge")).to_have_text(re.compile("queued|running"))
    expect(page.locator("#config tr", has_text="hparams.l2")).to_contain_text("0.001")
    parent_link = page.locator(f'.page-head a[href="/runs/{run["id"]}"]')
    expect(parent_link).to_have_text(f"run #{run['id']}")
    screenshot(page, "20b-try-next-child")
    parent_link.click()
    expect(page).to_have_url(re.compile(rf"/runs/{run['id']}$"))
    assert page.problems == []  # type: ignore[attr-defined]


def test_no_human_level_error_and_data_size_curve(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = _project(api)
    run = _run(api, project["id"], "no-human", {})
    _train_like_a_script(api, run["id"], train=0.01, train_dev=0.02, dev=0.12)

    page.goto(f"/runs/{run['id']}")
    expect(page.locator(".no-human")).to_contain_text("No human-level error set: Bayes error is taken as 0")
    page.get_by_role("button", name="Queue data-size curve (4 runs)").click()
    expect(page.locator(".message-success")).to_contain_text("Queued 4 runs for the data-size curve")
    children = api.get(f"/runs/{run['id']}/data-size-curve").json()["runs"]
    for child, (train, dev) in zip(
        children, [(0.0, 0.30), (0.0, 0.19), (0.005, 0.12), (0.01, 0.08)], strict=True
    ):
        _train_like_a_script(api, child, train=train, train_dev=train + 0.01, dev=dev)
    page.reload()
    expect(page.locator("#data-size-chart")).to_have_attribute("data-state", "drawn")
    expect(page.locator("#data-size-reading")).to_contain_text("keeps closing")
    page.locator("#data-size").scroll_into_view_if_needed()
    screenshot(page, "23-data-size-curve")

    page.locator(".no-human a").click()
    expect(page.locator("#edit-project")).to_have_attribute("open", "")
    page.get_by_label("Human-level error (%)").fill("0.5")
    page.get_by_label("Satisficing constraints").fill("latency_ms_b1 <= 10\nparam_count <= 1000000")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message-success")).to_have_text("Project updated.")
    expect(page.locator("#leaderboard")).to_contain_text("latency_ms_b1 ≤ 10")
    assert page.problems == []  # type: ignore[attr-defined]


def test_leaderboard_and_compare(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    satisficing = [{"metric": "latency_ms_b1", "max": 10}, {"metric": "param_count", "max": 1000000}]
    project = _project(api, human_level_error=0.005, satisficing=satisficing)
    small = _run(api, project["id"], "small", {"lr": 0.01})
    wide = _run(api, project["id"], "wide-but-slow", {"lr": 0.003})
    deep = _run(api, project["id"], "regularised", {"lr": 0.003, "l2": 0.001})
    _train_like_a_script(
        api, small["id"], train=0.04, train_dev=0.05, dev=0.08, latency_ms_b1=2, param_count=2e4
    )
    _train_like_a_script(
        api, wide["id"], train=0.0, train_dev=0.02, dev=0.05, latency_ms_b1=14, param_count=9e5
    )
    _train_like_a_script(
        api, deep["id"], train=0.01, train_dev=0.02, dev=0.06, latency_ms_b1=3, param_count=4e4
    )

    page.goto(f"/projects/{project['id']}")
    rows = page.locator("#leaderboard-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("regularised")
    expect(rows.nth(1)).to_contain_text("small")
    expect(rows.nth(2)).to_have_class("ineligible")
    expect(rows.nth(2)).to_contain_text("breaks latency_ms_b1 14 > 10")
    page.get_by_role("link", name="Variance", exact=True).click()
    expect(page).to_have_url(re.compile(r"sort=variance"))
    screenshot(page, "22-project-leaderboard")

    for run in (small, wide, deep):
        page.get_by_label(f"Compare {run['name']}").check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page).to_have_url(re.compile(r"/compare\?runs="))
    expect(page.locator("#config-compare tr.differs")).to_have_count(2)  # hparams.l2 and hparams.lr
    expect(page.locator("#compare-chart")).to_have_attribute("data-state", "drawn")
    expect(page.locator(".ladder-chart[data-state=drawn]")).to_have_count(3)
    screenshot(page, "21-compare")
    assert page.problems == []  # type: ignore[attr-defined]
