"""A user's first steps: create a project, queue a run, and watch its page."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_create_project_and_queue_a_run(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    screenshot(page, "01-projects-empty")

    page.get_by_label("Name", exact=True).fill("Digits <b>first</b>")
    page.get_by_label("Dataset").select_option("digits")
    expect(page.locator("#dataset-description")).to_contain_text("Handwritten digits")
    page.get_by_label("Human-level error (%)").fill("abc")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".field-error")).to_contain_text("Human-level error (human_level_error)")
    screenshot(page, "02-project-form-error")

    page.get_by_label("Human-level error (%)").fill("0.5")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    expect(page.locator(".message-success")).to_have_text("Project 'Digits <b>first</b>' created.")
    expect(page.get_by_role("heading", name="Digits <b>first</b>")).to_be_visible()
    screenshot(page, "03-project-empty")

    page.locator("a.button", has_text="New run").click()
    expect(page.get_by_role("heading", name="New run", exact=True)).to_be_visible()
    expect(page.locator("#hp_epochs")).to_have_value("30")
    page.locator("#model").select_option("softmax")
    expect(page.locator('fieldset[data-model="mlp"]')).to_be_hidden()
    page.locator("#model").select_option("mlp")
    page.locator("#m_mlp_hidden").fill("64,64")
    page.locator("#hp_lr").fill("-1")
    page.get_by_role("button", name="Queue run").click()
    expect(page.locator(".field-error")).to_contain_text("Learning rate (hparams.lr)")
    screenshot(page, "04-new-run-error")

    page.locator("#hp_lr").fill("0.01")
    page.locator("#hp_epochs").fill("3")
    page.locator("#name").fill("first-mlp")
    page.get_by_role("button", name="Queue run").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    expect(page.locator("h1 .badge")).to_have_text(re.compile(r"queued|running|succeeded"))
    expect(page.locator("#config")).to_contain_text("64,64")
    expect(page.locator("#error-chart")).to_contain_text(re.compile("No points yet|No metrics"))
    page.wait_for_function("window.Plotly !== undefined")
    screenshot(page, "05-run-queued")

    page.get_by_role("link", name="Digits <b>first</b>").first.click()
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("first-mlp")
    screenshot(page, "06-project-with-run")
    assert page.problems == []  # type: ignore[attr-defined]


def test_run_page_draws_learning_curves_and_follows_progress(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    """A worker's reports (sent here through the API) show up on the open page without a reload."""
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    project = api.post(
        "/projects", json={"name": "curves", "dataset": "digits", "human_level_error": 0.01}
    ).json()
    run = api.post("/runs", json={"project_id": project["id"], "name": "curvy", "config": {}}).json()
    api.post(f"/runs/{run['id']}/start", json={"worker": "test-worker"}).raise_for_status()
    train = [0.40, 0.20, 0.12, 0.08, 0.06, 0.05]
    dev = [0.42, 0.25, 0.16, 0.13, 0.14, 0.15]
    points = [
        {"key": key, "step": epoch, "value": value}
        for key, values in (
            ("train_error", train),
            ("dev_error", dev),
            ("train_dev_error", [v + 0.01 for v in train]),
            ("train_loss", [v * 3 for v in train]),
            ("dev_loss", [v * 3.2 for v in dev]),
        )
        for epoch, value in enumerate(values, start=1)
    ]
    api.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).raise_for_status()
    progress = {"epoch": 6, "epochs": 30, "eta_s": 96, "examples_per_sec": 5400}
    api.post(f"/runs/{run['id']}/progress", json=progress).raise_for_status()

    missing: list[str] = []  # series asked for that the run never logged (test_error here)
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("h1 .badge")).to_have_text("running")
    expect(page.locator("#error-chart")).to_have_attribute("data-state", "drawn")
    expect(page.locator("#loss-chart")).to_have_attribute("data-state", "drawn")
    expect(page.locator("#error-chart")).to_contain_text("best dev: 13.00 % @ epoch 4")
    expect(page.locator("#run-epoch")).to_have_text("epoch 6 / 30")

    api.post(f"/runs/{run['id']}/progress", json={**progress, "epoch": 7, "eta_s": 80}).raise_for_status()
    expect(page.locator("#run-epoch")).to_have_text("epoch 7 / 30", timeout=8000)
    expect(page.locator("#run-eta")).to_have_text("1 min 20 s")
    screenshot(page, "07-run-running-with-curves")

    api.post(f"/runs/{run['id']}/finish", json={"status": "succeeded"}).raise_for_status()
    expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=8000)
    expect(page.locator("#live")).to_be_hidden()
    expect(page.locator("#cancel-form")).to_have_count(0)
    expect(page.locator("#error-chart")).to_have_attribute("data-state", "drawn")
    screenshot(page, "08-run-succeeded")
    assert page.problems == []  # type: ignore[attr-defined]
    assert missing == []
