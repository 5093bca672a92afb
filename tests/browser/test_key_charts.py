"""A chart for every logged key on the run page (panels by prefix, smoothing, log scale, x-axis), and any
key, with seed groups as bands, on the compare page."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _stamp(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _traces(page, key: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return page.evaluate(  # type: ignore[no-any-return]
        """key => document.querySelector(`.key-chart[data-key="${key}"]`).data.map(
            t => ({x: t.x, y: t.y, role: t.meta && t.meta.role, opacity: t.opacity}))""",
        key,
    )


def test_run_page_charts_every_key_in_panels_with_smoothing_log_and_time_axes(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post("/projects", json={"name": "every-key", "dataset": "digits"}).json()
    run = api.post("/runs", json={"project_id": project["id"], "name": "many-keys", "config": {}}).json()
    points = []
    for e in range(1, 11):
        stamp = _stamp(e * 30)
        points += [
            {"key": "dev_error", "step": e, "value": 0.4 / e + 0.05, "timestamp": stamp},
            {"key": "train_error", "step": e, "value": 0.35 / e, "timestamp": stamp},
            {"key": "accuracy", "step": e, "value": 0.95 - 0.4 / e, "timestamp": stamp},
            {"key": "val/f1", "step": e, "value": 0.9 - 0.3 / e + 0.02 * (e % 2), "timestamp": stamp},
            {"key": "val/precision", "step": e, "value": 0.8 - 0.2 / e, "timestamp": stamp},
        ]
    for s in range(60):
        stamp = _stamp(s * 5)
        points += [
            {"key": "system/cpu_percent", "step": s, "value": 40 + 30 * (s % 3), "timestamp": stamp},
            {"key": "system/memory_percent", "step": s, "value": 20 + s / 10, "timestamp": stamp},
        ]
    points += [
        {"key": "train_loss", "step": s, "value": 2.0 / (1 + s / 50), "timestamp": _stamp(s)}
        for s in range(300)
    ]
    points += [  # logged once: a number on the page, not an axis around one dot
        {"key": "param_count", "step": 0, "value": 4810.0},
        {"key": "latency_ms_b256", "step": 0, "value": 0.0002036},
    ]
    api.post(f"/runs/{run['id']}/start", json={"worker": "w"}).raise_for_status()
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).raise_for_status()
    api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}).raise_for_status()

    asked: list[str] = []
    page.on(
        "request", lambda r: asked.append(r.url) if re.search(r"/api/v1/runs/\d+/metrics", r.url) else None
    )
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#error-chart")).to_have_attribute("data-state", "drawn")
    # Panels by prefix: keys without one first, the system metrics last; one chart per key, all in one read.
    panels = page.locator(".key-panel > summary")
    expect(panels).to_have_text(["Other metrics", "val/", "System (system/)"])
    for key in ("accuracy", "val/f1", "val/precision", "system/cpu_percent", "system/memory_percent"):
        page.locator(f'.key-chart[data-key="{key}"]').scroll_into_view_if_needed()
        expect(page.locator(f'.key-chart[data-key="{key}"]')).to_have_attribute("data-state", "drawn")
    assert len(asked) == 1 and "with_time" not in asked[0], asked
    # ... the read the page's head preloaded: the browser sent it once, early, and handed run.js its answer.
    preload = page.locator('link[rel="preload"][as="fetch"]').get_attribute("href")
    assert asked[0].endswith(preload), (asked, preload)
    for key, shown in (("param_count", "4,810"), ("latency_ms_b256", "0.0002036")):
        single = page.locator(f'.key-chart[data-key="{key}"]')
        single.scroll_into_view_if_needed()
        expect(single).to_have_attribute("data-state", "single")
        expect(single.locator(".single-value")).to_have_text(shown)
        expect(single).to_contain_text("logged once, at step 0")
        assert single.locator(".main-svg").count() == 0
    assert page.locator('.key-chart[data-key="dev_error"]').count() == 0  # drawn in the error chart only
    raw = _traces(page, "val/f1")
    assert len(raw) == 1 and raw[0]["x"] == list(range(1, 11))

    # Smoothing: the raw series stays, faint, behind a bias-corrected EMA that starts at the first raw value.
    page.locator("#smoothing").fill("0.8")
    expect(page.locator("#smoothing-value")).to_have_text("0.80")
    expect(page.locator('.key-chart[data-key="val/f1"]')).to_have_attribute("data-beta", "0.8")
    faint, smooth = _traces(page, "val/f1")
    assert (faint["role"], smooth["role"]) == ("raw", "smoothed") and faint["opacity"] < 0.5
    assert smooth["y"][0] == pytest.approx(faint["y"][0])
    assert max(smooth["y"]) - min(smooth["y"]) < max(faint["y"]) - min(faint["y"])
    expected = page.evaluate("y => window.TrainboardMath.ema(y, 0.8)", faint["y"])
    assert smooth["y"] == pytest.approx(expected)

    page.locator("#log-y").check()
    expect(page.locator("#loss-chart")).to_have_attribute("data-log", "true")
    assert page.evaluate("document.getElementById('loss-chart').layout.yaxis.type") == "log"

    # Relative time reads the timestamps (one more read, with_time) and counts from the first point.
    page.select_option("#x-axis", "relative")
    expect(page.locator("#error-chart")).to_have_attribute("data-x", "relative")
    assert any("with_time=1" in url for url in asked[1:]), asked
    dev_x = page.evaluate(
        "document.getElementById('error-chart').data.find(t => t.meta.key === 'dev_error').x"
    )
    assert dev_x[:2] == [30, 60]  # the run's first point (train_loss, step 0) is at 0 s
    assert page.evaluate("document.getElementById('error-chart').layout.xaxis.title.text") == (
        "seconds since the first point"
    )
    page.locator("#chart-controls").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/tb-shots/run-every-key-relative-log.png")
    page.select_option("#x-axis", "wall")
    expect(page.locator("#error-chart")).to_have_attribute("data-x", "wall")
    assert page.evaluate("document.getElementById('error-chart').layout.xaxis.type") == "date"
    page.select_option("#x-axis", "step")
    page.locator("#smoothing").fill("0.6")
    page.locator("#log-y").uncheck()
    page.locator("#key-panels").scroll_into_view_if_needed()
    screenshot(page, "run-every-key")

    # The choices are remembered for the next run page.
    page.reload()
    expect(page.locator("#smoothing-value")).to_have_text("0.60")
    assert page.problems == []  # type: ignore[attr-defined]


def test_compare_page_overlays_any_key_and_draws_seed_groups_as_bands(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post("/projects", json={"name": "compare-any-key", "dataset": "digits"}).json()
    ids = []
    finals = []
    for i, (group, offset) in enumerate((("seeds", 0.0), ("seeds", 0.04), ("seeds", 0.02), (None, 0.1))):
        body = {"project_id": project["id"], "name": f"r{i}", "config": {}} | (
            {"group": group} if group else {}
        )
        run = api.post("/runs", json=body).json()
        points = [{"key": "val/acc", "step": e, "value": 0.5 + 0.04 * e - offset} for e in range(1, 11)]
        points += [{"key": "dev_error", "step": e, "value": 0.3 / e + offset} for e in range(1, 11)]
        api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).raise_for_status()
        ids.append(run["id"])
        finals.append(0.9 - offset)

    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/metrics" in r.url else None)
    page.goto(f"/compare?runs={','.join(map(str, ids))}")
    chart = page.locator("#compare-chart")
    expect(chart).to_have_attribute("data-state", "drawn")
    options = page.locator("#compare-key option").all_inner_texts()
    assert options == ["dev and train error", "dev_error", "val/acc"]

    page.select_option("#compare-key", "val/acc")
    expect(chart).to_have_attribute("data-key", "val/acc")
    assert len(asked) == 2 and "keys=val%2Facc" in asked[1], asked  # one read per key picked, every run in it
    lines = page.evaluate("document.getElementById('compare-chart').data.map(t => t.y[t.y.length - 1])")
    assert lines == pytest.approx(finals)

    # The three runs of the group become one mean line in a band of +/- one std; the fourth stays a line.
    page.locator("#group-bands").check()
    page.wait_for_function(
        "document.getElementById('compare-chart').data.some(t => t.meta && t.meta.role === 'mean')"
    )
    roles = page.evaluate("document.getElementById('compare-chart').data.map(t => t.meta.role)")
    assert roles == ["band", "band", "mean", "run"]
    mean = page.evaluate("document.getElementById('compare-chart').data[2].y")
    upper = page.evaluate("document.getElementById('compare-chart').data[0].y")
    assert mean[-1] == pytest.approx(0.88)  # mean of 0.9, 0.86, 0.88
    assert upper[-1] - mean[-1] == pytest.approx(0.02)  # sample std of the three
    assert not math.isnan(mean[0])
    expect(page.locator("#compare-legend-note")).to_contain_text("mean with a band")
    page.locator("#compare-curves").scroll_into_view_if_needed()
    screenshot(page, "compare-any-key-bands")

    # A link can open the page on a key with the bands drawn.
    page.goto(f"/compare?runs={','.join(map(str, ids))}&key=val/acc&bands=1")
    expect(chart).to_have_attribute("data-key", "val/acc")
    assert page.evaluate("document.getElementById('compare-chart').data.map(t => t.meta.role)") == roles
    assert page.problems == []  # type: ignore[attr-defined]


def test_a_key_first_logged_mid_run_gets_its_chart_in_its_panel(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post("/projects", json={"name": "new-key-live", "dataset": "digits"}).json()
    run = api.post("/runs", json={"project_id": project["id"], "name": "live", "config": {}}).json()
    api.post(f"/runs/{run['id']}/start", json={"worker": "w"}).raise_for_status()
    first = [{"key": "val/f1", "step": s, "value": 0.5 + s / 100} for s in range(1, 4)]
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": first}).raise_for_status()

    page.goto(f"/runs/{run['id']}")
    expect(page.locator('.key-chart[data-key="val/f1"]')).to_have_attribute("data-state", "drawn")
    more = [
        {"key": "val/auc", "step": 4, "value": 0.7},
        {"key": "system/cpu_percent", "step": 2, "value": 55.0},
    ]
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": more}).raise_for_status()
    auc = page.locator('.key-chart[data-key="val/auc"]')
    expect(auc).to_have_attribute("data-state", "single", timeout=8000)  # one point: its value
    api.post(
        f"/runs/{run['id']}/metrics", json={"metrics": [{"key": "val/auc", "step": 5, "value": 0.75}]}
    ).raise_for_status()
    expect(auc).to_have_attribute("data-state", "drawn", timeout=8000)  # a second: a chart
    assert auc.locator(".single-value").count() == 0
    expect(page.locator(".key-panel > summary")).to_have_text(["val/", "System (system/)"])
    # Charts in a panel stay in key order: auc before f1.
    keys = page.locator('.key-panel[data-prefix="val/"] .key-chart').evaluate_all(
        "els => els.map(e => e.dataset.key)"
    )
    assert keys == ["val/auc", "val/f1"]
    assert page.problems == []  # type: ignore[attr-defined]
