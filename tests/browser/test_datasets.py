"""Upload a dataset through the page, then train a run on it with a real worker and watch it succeed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import screenshot
from tests.dataset_files import good_npz
from tests.processes import server_process, trainboard_env, wait_for_run, worker_process
from trainboard.client import Client

pytestmark = pytest.mark.browser


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[str]:
    """A server and a worker of their own (the session's live server has no worker)."""
    env = trainboard_env(tmp_path / "home")
    with (
        server_process(env, tmp_path / "server.log") as url,
        worker_process(env, url, tmp_path / "worker.log"),
    ):
        yield url


@pytest.fixture
def upload_page(browser, stack: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=stack, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield page, problems
    context.close()


def test_upload_a_dataset_and_train_on_it(upload_page, stack: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page, problems = upload_page
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    good = tmp_path / "blobs.npz"
    good.write_bytes(good_npz(n=60, features=4, classes=3))

    page.goto("/datasets")
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    page.get_by_label("Name", exact=True).fill("blobs")
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".field-error")).to_contain_text("no column 'label'")
    screenshot(page, "datasets-01-upload-error")

    page.get_by_label("File").set_input_files(str(good))
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/datasets$"))
    expect(page.locator(".message-success")).to_have_text("Dataset 'blobs' stored: 60 examples, 3 classes.")
    row = page.locator("#uploaded-datasets tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("blobs")
    dataset_id = row.get_attribute("data-id")
    screenshot(page, "datasets-02-uploaded")

    with Client(server_url=stack) as client:
        project = client.create_project("blobs project", dataset=str(dataset_id))
        config = {"model": {"name": "mlp", "hidden": [16]}, "hparams": {"epochs": 3, "batch_size": 8}}
        run = client.create_run(project["id"], config=config, external=False)
        page.goto(f"/runs/{run['id']}")
        finished = wait_for_run(client, run["id"], timeout=120)
    assert finished["status"] == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
    # The page reloads itself when its run ends (run.js); reloading from here too raced with it.
    expect(page.locator("[data-role=status]").first).to_have_text("succeeded", timeout=20_000)
    screenshot(page, "datasets-03-run-succeeded")
    assert problems == []
