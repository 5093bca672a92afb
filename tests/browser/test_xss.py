"""Script payloads in names, tags and labels run nothing in a real browser, and the charts (Plotly reads
strings as pseudo-HTML) draw them as typed instead of turning them into links or markup."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.browser

PAYLOAD = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>"
LINK = '<a href="https://evil.example/">x</a><b>bold</b>'
# Plotly draws links as SVG <a xlink:href>, which a CSS [href] selector misses.
EVIL_LINKS = """() => Array.from(document.querySelectorAll("a")).filter((a) =>
    (a.getAttribute("href") || a.getAttribute("xlink:href") || "").startsWith("https://evil")).length"""


def _project_with_payloads(url: str) -> dict[str, int]:
    with httpx.Client(base_url=f"{url}/api/v1") as api:
        project = api.post("/projects", json={"name": f"xss {PAYLOAD}", "dataset": "digits"}).json()
        ids = {"project": project["id"]}
        for n, name in enumerate((PAYLOAD, LINK)):
            run = api.post(
                "/runs",
                json={"project_id": project["id"], "external": True, "name": name, "params": {name: name}},
            ).json()
            points = [
                {"key": key, "step": step, "value": 0.4 / step + n / 100}
                for key in ("train_error", "train_dev_error", "dev_error", "test_error")
                for step in (1, 2, 3)
            ]
            api.post(f"/runs/{run['id']}/metrics", json={"metrics": points})
            predictions = [
                {"example_id": f"{PAYLOAD}-{i}", "label": [PAYLOAD, LINK, "ok"][i % 3], "predicted": "ok"}
                for i in range(12)
            ]
            api.post(f"/runs/{run['id']}/predictions", json={"split": "dev", "predictions": predictions})
            api.post(f"/runs/{run['id']}/finish", json={"status": "failed", "error": name})
            ids[f"run{n}"] = run["id"]
        for tag in (PAYLOAD, LINK):
            api.post(f"/projects/{project['id']}/tags", json={"name": tag})
            body = {"example_ids": [f"{PAYLOAD}-{i}" for i in range(0, 12, 2)], "add": [tag]}
            api.post(f"/projects/{project['id']}/examples/tags", json=body)
    return ids


def test_payloads_run_nothing_and_charts_show_them_as_text(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ids = _project_with_payloads(live_server)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    urls = [
        f"/projects/{ids['project']}",
        f"/runs/{ids['run0']}",
        f"/runs/{ids['run1']}/errors?split=dev",
        f"/compare?runs={ids['run0']}&runs={ids['run1']}",
    ]
    for url in urls:
        page.goto(url)
        page.wait_for_load_state("load")
        expect(page.locator("h1")).to_be_visible()
        assert page.locator("img[src='x']").count() == 0, url
        assert page.evaluate(EVIL_LINKS) == 0, url
        assert page.evaluate("document.querySelectorAll('script:not([src]):not([type])').length") == 0, url

    # The comparison's legend and the error analysis's charts hold the names as literal text.
    page.goto(urls[3])
    expect(page.locator("#compare-chart[data-state=drawn]")).to_be_visible()
    assert page.evaluate(EVIL_LINKS) == 0
    legend = " ".join(page.locator("#compare-chart .legendtext").all_text_contents())
    assert f"{LINK} dev" in legend and f"{PAYLOAD} dev" in legend
    page.goto(urls[2])
    expect(page.locator("#pareto .xtick").first).to_be_visible()
    assert set(page.locator("#pareto .xtick").all_text_contents()) - {""} == {PAYLOAD, LINK}
    assert set(page.locator("#confusion .ytick").all_text_contents()) - {""} == {PAYLOAD, LINK, "ok"}
    # Hover the cell "true LINK, predicted ok" (its hover text is built from the labels).
    page.locator("#confusion").scroll_into_view_if_needed()
    x, y = page.evaluate(
        """([link]) => {
            const node = document.getElementById("confusion");
            const labels = node.data[0].x, layout = node._fullLayout, box = node.getBoundingClientRect();
            const x = layout.xaxis._offset + layout.xaxis.l2p(labels.indexOf("ok"));
            const y = layout.yaxis._offset + layout.yaxis.l2p(labels.indexOf(link));
            return [box.left + x, box.top + y];
        }""",
        [LINK],
    )
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    hover = " ".join(page.locator("#confusion .hoverlayer").all_text_contents())
    assert f"true {LINK}, predicted ok: 4" in hover, hover
    assert page.locator("#confusion .hoverlayer a").count() == 0
    assert dialogs == []
    assert page.problems == []  # type: ignore[attr-defined]
