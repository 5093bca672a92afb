"""Transfer in a browser: fine-tune a run on another dataset from its page, see where the weights came from
(links both ways), and the data-size curve fine-tuned against from scratch on one chart."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_diagnosis import _train_like_a_script

pytestmark = pytest.mark.browser


def _project(api: Any, dataset: str) -> dict:
    response = api.post("/projects", json={"name": f"{dataset}-{uuid.uuid4().hex[:4]}", "dataset": dataset})
    response.raise_for_status()
    return response.json()


def test_fine_tune_a_run_on_another_dataset(page, live_server: str) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from playwright.sync_api import expect

    api = httpx.Client(base_url=f"{live_server}/api/v1")
    source_project = _project(api, "digits-source")
    target_project = _project(api, "digits-target")
    config = {"model": {"name": "mlp", "hidden": [128, 64]}, "hparams": {"epochs": 12}}
    source = api.post(
        "/runs", json={"project_id": source_project["id"], "name": "big", "config": config}
    ).json()
    _train_like_a_script(api, source["id"], train=0.0, train_dev=0.03, dev=0.05)
    api.put(f"/runs/{source['id']}/checkpoint", content=b"weights").raise_for_status()

    page.goto(f"/runs/{source['id']}")
    page.get_by_label("Fine-tune this run on another dataset:").select_option(str(target_project["id"]))
    page.get_by_role("button", name="Fine-tune…").click()
    expect(page.locator("#transfer_from")).to_have_value(str(source["id"]))
    expect(page.locator("#m_mlp_hidden")).to_have_value("128,64")
    page.get_by_label("Train transfer.trainable").select_option("2")
    page.locator("#transfer").scroll_into_view_if_needed()
    screenshot(page, "60-fine-tune-form")
    page.get_by_role("button", name="Queue run").click()
    expect(page.locator("#weights-source")).to_contain_text(
        "Started from the final weights of big (run #" + str(source["id"])
    )
    expect(page.locator("#weights-source")).to_contain_text("it trained the last 2 weight layers")
    screenshot(page, "61-fine-tuned-run")
    tuned_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    page.locator("#weights-source a").first.click()
    expect(page.locator("#weights-fine-tuned")).to_contain_text(f"run #{tuned_id}")
    screenshot(page, "62-source-run")

    _train_like_a_script(api, tuned_id, train=0.05, train_dev=0.1, dev=0.2)
    page.goto(f"/runs/{tuned_id}")
    page.get_by_role("button", name="Queue data-size curve, fine-tuned against from scratch (8 runs)").click()
    expect(page.locator(".message-success")).to_contain_text("Queued 8 runs")
    children = api.get(f"/runs/{tuned_id}/data-size-curve").json()["runs"]
    devs = [0.40, 0.30, 0.24, 0.20, 0.85, 0.55, 0.25, 0.18]
    for child, dev in zip(children, devs, strict=True):
        _train_like_a_script(api, child, train=0.0, train_dev=0.02, dev=dev)
    page.reload()
    expect(page.locator("#data-size-chart")).to_have_attribute("data-state", "drawn")
    expect(page.locator("#data-size-transfer-reading")).to_contain_text(
        "Transfer wins up to 36 training examples; from 72 on"
    )
    assert page.locator("#data-size-chart .legendtext").all_text_contents() == [
        "train error, fine-tuned",
        "dev error, fine-tuned",
        "train error, from scratch",
        "dev error, from scratch",
    ]
    page.locator("#data-size").scroll_into_view_if_needed()
    screenshot(page, "63-transfer-data-size-curve")
    assert page.problems == []  # type: ignore[attr-defined]
