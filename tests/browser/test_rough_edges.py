"""What a new user hit on their first walk through the pages: API docs offline, a sweep page without WebGL
and with one x-axis, error keys in percent, and wide tables that scroll inside their card at 1280 px."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def _offline(page: Any) -> list[str]:
    """Abort every request that leaves this machine, as on a laptop without internet; returns their URLs."""
    blocked: list[str] = []

    def route(route: Any) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return blocked


def test_swagger_ui_works_offline_under_the_csp(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    blocked = _offline(page)
    response = page.goto("/docs")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(
        page.locator(".swagger-ui .opblock-summary-path", has_text="/api/v1/projects").first
    ).to_be_visible(timeout=20_000)
    screenshot(page, "edges-docs-swagger")
    assert blocked == [] and page.problems == []


def test_redoc_works_offline_under_the_csp(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    blocked = _offline(page)
    response = page.goto("/redoc")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#redoc h1", has_text="Trainboard").first).to_be_visible(timeout=20_000)
    expect(page.get_by_text("/api/v1/projects").first).to_be_attached()
    screenshot(page, "edges-docs-redoc")
    assert blocked == [] and page.problems == []


def _finished_script_sweep(api: httpx.Client, results: list[tuple[float, str]]) -> dict:
    """A script sweep whose trials an 'agent' ran through the API, each ending with (dev_error, status)."""
    project = api.post(
        "/projects", json={"name": f"edges-{uuid.uuid4().hex[:6]}", "dataset": "external"}
    ).json()
    space = {"optimizer.lr": {"log_uniform": [0.001, 1]}, "hidden": {"choice": [8, 32, 128]}}
    body = {"project_id": project["id"], "target": "script", "trials": len(results), "space": space}
    sweep = api.post("/sweeps", json=body).json()
    for dev_error, status in results:
        trial = api.post(f"/sweeps/{sweep['id']}/next").json()
        points = [
            {"key": "dev_error", "step": 1, "value": dev_error},
            {"key": "train_error", "step": 1, "value": 0.01},
        ]
        api.post(f"/runs/{trial['id']}/metrics", json={"metrics": points}).raise_for_status()
        api.post(f"/runs/{trial['id']}/finish", json={"status": status}).raise_for_status()
    return sweep


def test_sweep_page_draws_without_webgl_one_axis_in_percent(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    # Headless chromium with --disable-gpu has no WebGL: Plotly's parcoords said "WebGL is not supported".
    api = httpx.Client(base_url=f"{live_server}/api/v1")
    sweep = _finished_script_sweep(api, [(0.2, "succeeded"), (0.125, "succeeded"), (0.3, "succeeded")])

    page.goto(f"/sweeps/{sweep['id']}")
    parallel = page.locator("#parcoords svg.parallel")
    expect(parallel).to_be_visible(timeout=15_000)
    expect(parallel.locator("polyline")).to_have_count(3)
    expect(parallel.locator(".axis-label").last).to_have_text("dev_error (%)")
    expect(page.locator("#parcoords")).not_to_contain_text("WebGL")
    best = page.locator("#best-so-far")
    expect(best.locator(".main-svg").first).to_be_attached(timeout=15_000)
    # One x-axis, counted in trials (no "GPU seconds" on a CPU machine, no negative tick), y in percent.
    expect(best.locator(".xtitle")).to_have_count(1)
    expect(best.locator(".xtitle")).to_have_text("finished trials")
    expect(best.locator(".ytitle")).to_have_text("best dev_error (%)")
    ticks = [t.strip() for t in best.locator(".xtick text").all_text_contents()]
    assert ticks and not any(t.startswith(("−", "-")) for t in ticks), ticks
    y_ticks = [float(t) for t in best.locator(".ytick text").all_text_contents() if t.strip()]
    assert max(y_ticks) >= 10, y_ticks  # 12.5 % drawn as 12.5, not 0.125
    expect(page.locator("#best")).to_contain_text("12.50 %")
    dev = page.locator("#trials thead th").all_inner_texts().index("dev_error")
    cells = [row.locator("td").nth(dev).inner_text() for row in page.locator("#trials tbody tr").all()]
    assert sorted(cells) == ["12.50 %", "20.00 %", "30.00 %"], cells
    screenshot(page, "edges-sweep-page")
    assert page.problems == []


def _no_horizontal_page_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"the page scrolls sideways: {width} > {viewport}"


@pytest.mark.parametrize("width", [1280, 700])
def test_wide_tables_scroll_inside_their_card(page, live_server: str, width: int) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    params = {f"a_rather_long_parameter_name_{i}": {"uniform": [0, 1]} for i in range(8)}
    project = api.post(
        "/projects", json={"name": f"wide-{uuid.uuid4().hex[:6]}", "dataset": "external"}
    ).json()
    sweep = api.post(
        "/sweeps", json={"project_id": project["id"], "target": "script", "trials": 2, "space": params}
    ).json()
    api.post(f"/sweeps/{sweep['id']}/next").raise_for_status()
    page.set_viewport_size({"width": width, "height": 900})
    for path in (
        f"/projects/{project['id']}",
        f"/sweeps/{sweep['id']}",
        f"/projects/{project['id']}/sweeps/new",
    ):
        page.goto(path)
        expect(page.locator("main, .container").first).to_be_visible()
        _no_horizontal_page_scroll(page)
        for card in page.locator(".card").all():
            box = card.bounding_box()
            assert box is None or box["x"] + box["width"] <= width + 1, (path, box)
        screenshot(page, f"edges-wide-{width}-{path.strip('/').replace('/', '-')}")
    # The sweep form's inputs look like every other form's (border and padding), not the browser's default.
    page.goto(f"/projects/{project['id']}/sweeps/new")
    radius = page.locator("#trials").evaluate("e => getComputedStyle(e).borderTopLeftRadius")
    assert radius == "6px"
    assert page.problems == []


def test_sweep_around_a_run_from_its_page(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post(
        "/projects", json={"name": f"around-{uuid.uuid4().hex[:6]}", "dataset": "digits"}
    ).json()
    config = {"model": {"name": "lenet5", "pool": "avg"}, "hparams": {"epochs": 3, "lr": 0.01}}
    run = api.post("/runs", json={"project_id": project["id"], "name": "cnn", "config": config}).json()

    page.goto(f"/runs/{run['id']}")
    page.get_by_role("link", name="Sweep around this run").click()
    expect(page.locator("#base_run")).to_have_value(str(run["id"]))
    expect(page.locator("#base_epochs")).to_be_hidden()  # the run's config replaces them
    expect(page.locator("#space")).to_contain_text("model.pool")
    # Choosing "the epochs and hidden sizes below" goes back to the project's default model.
    page.locator("#base_run").select_option("")
    expect(page.locator("#base_epochs")).to_be_visible()
    expect(page.locator("#space")).to_contain_text("model.hidden")
    page.locator("#base_run").select_option(str(run["id"]))
    expect(page.locator("#space")).to_contain_text("model.pool")
    screenshot(page, "edges-sweep-around-run")
    page.get_by_role("button", name="Start sweep").click()
    expect(page.locator(".message-success")).to_contain_text("started")
    assert page.problems == []


def test_project_page_agrees_with_itself_when_a_run_ends(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post(
        "/projects", json={"name": f"live-{uuid.uuid4().hex[:6]}", "dataset": "external"}
    ).json()
    run = api.post("/runs", json={"project_id": project["id"], "name": "live", "external": True}).json()
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": [{"key": "dev_error", "step": 1, "value": 0.2}]})

    page.goto(f"/projects/{project['id']}")
    board = page.locator(f'#leaderboard-table tr[data-run-id="{run["id"]}"]')
    table = page.locator(f'tr[data-run-id="{run["id"]}"][data-status]')
    expect(board).to_contain_text("running")
    expect(table).to_contain_text("running")

    api.patch(f"/runs/{run['id']}", json={"tags": ["baseline"]}).raise_for_status()
    api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}).raise_for_status()
    # The one poll sees the run end and reloads: the leaderboard says what the runs table says.
    expect(board).to_contain_text("succeeded", timeout=10_000)
    expect(table).to_contain_text("succeeded")
    expect(board).not_to_contain_text("running")
    assert page.problems == []
