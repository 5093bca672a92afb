"""Free worker slots on the project, new-run and sweep pages, and a run page's attempt history after its
worker handed it back, as a user sees them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

SPACE = {"hparams.lr": {"log_uniform": [1e-3, 1e-1]}}


def _api(live_server: str) -> httpx.Client:
    return httpx.Client(base_url=f"{live_server}/api/v1", timeout=30)


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def test_pages_count_free_worker_slots_and_a_sweep_warns_beyond_them(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    worker = {
        "id": "gpu-box:4242",
        "hostname": "gpu-box",
        "concurrency": 1,
        "active_runs": 0,
        "device": "cuda",
    }
    with _api(live_server) as api:
        project = _ok(api.post("/projects", json={"name": "slots in the browser", "dataset": "digits"}))
        sweep = _ok(
            api.post(
                "/sweeps", json={"project_id": project["id"], "space": SPACE, "trials": 4, "parallelism": 3}
            )
        )
        for other in _ok(api.get("/workers"))["data"]:  # the shared server: start from no worker
            api.delete(f"/workers/{other['id']}")

        page.goto(f"/projects/{project['id']}")
        expect(page.locator("#worker-slots-free")).to_contain_text("No worker is running: queued runs wait")
        screenshot(page, "slots-project-no-worker")

        _ok(api.post("/workers/heartbeat", json=worker))
        try:
            page.goto(f"/sweeps/{sweep['id']}")
            expect(page.locator("#worker-slots-free")).to_contain_text("1 of 1 worker slot free")
            warning = page.locator("#parallelism-warning")
            expect(warning).to_be_visible()
            expect(warning).to_contain_text("This sweep runs up to 3 trials at once")
            expect(warning).to_contain_text("at most 1 trains at a time")
            screenshot(page, "slots-sweep-warning")

            page.goto(f"/projects/{project['id']}/runs/new")
            expect(page.locator("#worker-slots-free")).to_contain_text(
                "1 of 1 worker slot free (1 worker running)"
            )
            screenshot(page, "slots-new-run-form")

            _ok(api.post("/workers/heartbeat", json={**worker, "id": "gpu-box:4243", "concurrency": 2}))
            page.goto(f"/sweeps/{sweep['id']}")
            expect(page.locator("#worker-slots-free")).to_contain_text(
                "3 of 3 worker slots free (2 workers running)"
            )
            expect(page.locator("#parallelism-warning")).to_have_count(0)
        finally:
            api.delete(f"/workers/{worker['id']}")
            api.delete("/workers/gpu-box:4243")


def test_run_page_shows_the_attempt_history_after_a_hand_back(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with _api(live_server) as api:
        project = _ok(api.post("/projects", json={"name": "attempts in the browser", "dataset": "digits"}))
        run = _ok(api.post("/runs", json={"project_id": project["id"], "config": {"hparams": {"epochs": 5}}}))
        _ok(api.post(f"/runs/{run['id']}/start", json={"worker": "box-1:101"}))
        points = [{"key": "dev_error", "step": step, "value": 0.5 - step / 20} for step in (1, 2, 3)]
        _ok(api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}))
        release = {"worker": "box-1:101", "reason": "the worker was stopped (SIGTERM)"}
        _ok(api.post(f"/runs/{run['id']}/release", json=release))

        page.goto(f"/runs/{run['id']}")
        expect(page.locator("#run-interrupted")).to_contain_text("Interrupted, resuming from epoch 4")
        rows = page.locator("#attempts-table tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.nth(0)).to_contain_text("box-1:101")
        expect(rows.nth(0)).to_contain_text("handed back on stop (the worker was stopped (SIGTERM))")
        screenshot(page, "attempts-interrupted")

        _ok(api.post(f"/runs/{run['id']}/start", json={"worker": "box-2:202"}))
        more = [{"key": "dev_error", "step": step, "value": 0.3 - step / 50} for step in (4, 5)]
        _ok(api.post(f"/runs/{run['id']}/metrics", json={"metrics": more}))
        _ok(api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}))

        page.goto(f"/runs/{run['id']}")
        expect(rows).to_have_count(2)
        expect(rows.nth(1)).to_contain_text("box-2:202")
        expect(rows.nth(1)).to_contain_text("succeeded")
        expect(rows.nth(1).locator("td").nth(5)).to_have_text("4")
        screenshot(page, "attempts-finished")
    assert page.problems == []
