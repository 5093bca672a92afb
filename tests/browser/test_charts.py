"""Charts fill in one request, and a live run page then asks only for what is new."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


def _series_requests(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every metric read the page makes, as the URLs it asked for."""
    urls: list[str] = []
    page.on(
        "request", lambda r: urls.append(r.url) if re.search(r"/api/v1/(runs/\d+/)?metrics", r.url) else None
    )
    return urls


def test_run_page_fills_its_charts_in_one_request_then_polls_only_new_points(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post("/projects", json={"name": "one-request", "dataset": "digits"}).json()
    run = api.post("/runs", json={"project_id": project["id"], "name": "long", "config": {}}).json()
    api.post(f"/runs/{run['id']}/start", json={"worker": "test-worker"}).raise_for_status()
    dev = [0.42, 0.25, 0.16, 0.13, 0.14, 0.15]
    points = [{"key": "dev_error", "step": e, "value": v} for e, v in enumerate(dev, start=1)]
    points += [{"key": "train_error", "step": e, "value": v * 0.8} for e, v in enumerate(dev, start=1)]
    # A per-step loss much longer than the 2,000 points a chart holds: read from its rollups.
    points += [{"key": "train_loss", "step": s, "value": 2.0 / (1 + s / 500)} for s in range(30_000)]
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}, timeout=60).raise_for_status()

    asked = _series_requests(page)
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#error-chart")).to_have_attribute("data-state", "drawn")
    expect(page.locator("#loss-chart")).to_have_attribute("data-state", "drawn")
    expect(page.locator("#error-chart")).to_contain_text("best dev: 13.00 % @ epoch 4")
    # The page draws before its load event now (run.js reads while Plotly is parsed), so on a slow machine
    # the first poll may already be out: every read but the first asks only for what is new.
    first = [url for url in asked if "after_step" not in url]
    assert len(first) == 1 and "keys=" in first[0] and asked[0] == first[0], asked
    loss_x = "Math.max(...document.getElementById('loss-chart').data[0].x)"
    assert page.evaluate(loss_x) == 29_999

    # The run goes on: a better dev error and more loss; the open page picks them up by after_step.
    more = [{"key": "dev_error", "step": 7, "value": 0.05}, {"key": "train_error", "step": 7, "value": 0.04}]
    more += [{"key": "train_loss", "step": s, "value": 0.01} for s in range(30_000, 30_100)]
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": more}).raise_for_status()
    expect(page.locator("#error-chart")).to_contain_text("best dev: 5.00 % @ epoch 7", timeout=8000)
    page.wait_for_function(f"{loss_x} === 30099", timeout=8000)
    polls = asked[len(first) :]
    assert polls and all("after_step=" in url for url in polls), polls
    assert any("after_step=29999" in url for url in polls) and any("after_step=6" in url for url in polls)
    assert page.problems == []  # type: ignore[attr-defined]


def test_compare_page_fills_its_chart_in_one_request(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post("/projects", json={"name": "compare-one-request", "dataset": "digits"}).json()
    ids = []
    for offset in (0.0, 0.05, 0.1):
        run = api.post("/runs", json={"project_id": project["id"], "config": {}}).json()
        points = [
            {"key": key, "step": e, "value": round(base / e + offset, 4)}
            for key, base in (("dev_error", 0.5), ("train_error", 0.4))
            for e in range(1, 11)
        ]
        api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).raise_for_status()
        ids.append(run["id"])

    asked = _series_requests(page)
    page.goto(f"/compare?runs={','.join(map(str, ids))}")
    expect(page.locator("#compare-chart")).to_have_attribute("data-state", "drawn")
    assert len(asked) == 1 and "run_ids=" in asked[0], asked
    assert page.evaluate("document.getElementById('compare-chart').data.length") == 6  # dev and train per run
    assert page.problems == []  # type: ignore[attr-defined]


def test_run_page_reads_the_first_screen_before_the_other_keys(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post("/projects", json={"name": "first-screen", "dataset": "digits"}).json()
    run = api.post("/runs", json={"project_id": project["id"], "external": True}).json()
    keys = ["dev_error", "lr", *(f"layer/{i:02d}" for i in range(30)), "system/cpu"]
    points = [{"key": k, "step": s, "value": 0.5 / (1 + s)} for k in keys for s in range(5)]
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).raise_for_status()
    api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}).raise_for_status()

    asked = _series_requests(page)
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#error-chart")).to_have_attribute("data-state", "drawn")
    last = page.locator('.key-chart[data-key="system/cpu"]')
    last.scroll_into_view_if_needed()
    expect(last).to_have_attribute("data-state", "drawn")
    # 33 keys: the first read is the error chart's, preloaded by the page's head (sent once, by the
    # browser); then every other key in page order (unprefixed, then panels, system last).
    first = asked[0].split("keys=")[1].split("&")[0].split(",")
    assert first == ["dev_error"], asked
    assert asked[0].endswith(page.locator('link[rel="preload"]').get_attribute("href")), asked
    rest = [k for url in asked[1:] for k in url.split("keys=")[1].split("&")[0].split(",")]
    assert rest == ["lr", *(f"layer%2F{i:02d}" for i in range(30)), "system%2Fcpu"], asked
    assert page.problems == []  # type: ignore[attr-defined]


def test_a_time_axis_is_preloaded_with_its_timestamps(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    """The x-axis choice lives in the browser; a cookie tells the server, whose page head then preloads the
    first read with timestamps. Without it the preloaded read (steps only) went unused and the charts
    asked again."""
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post("/projects", json={"name": "time-axis-preload", "dataset": "digits"}).json()
    run = api.post("/runs", json={"project_id": project["id"], "external": True}).json()
    points = [
        {"key": k, "step": s, "value": 0.5 / s} for k in ("dev_error", "train_loss") for s in range(1, 9)
    ]
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).raise_for_status()
    api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}).raise_for_status()

    page.goto(f"/runs/{run['id']}")
    page.select_option("#x-axis", "wall")
    expect(page.locator("#error-chart")).to_have_attribute("data-x", "wall")
    asked = _series_requests(page)
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#error-chart")).to_have_attribute("data-state", "drawn")
    expect(page.locator("#error-chart")).to_have_attribute("data-x", "wall")
    preloaded = page.locator('link[rel="preload"]').get_attribute("href")
    assert preloaded and "with_time=1" in preloaded
    assert len(asked) == 1 and asked[0].endswith(preloaded), asked  # the preload, used: no second read
    assert page.evaluate("document.getElementById('error-chart').layout.xaxis.type") == "date"

    page.select_option("#x-axis", "step")  # back to steps: the next page preloads without timestamps
    expect(page.locator("#error-chart")).to_have_attribute("data-x", "step")
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#error-chart")).to_have_attribute("data-state", "drawn")
    assert "with_time" not in (page.locator('link[rel="preload"]').get_attribute("href") or "with_time")
    assert page.problems == []  # type: ignore[attr-defined]
