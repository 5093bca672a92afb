"""Every page escapes what users wrote: a script payload stored in every user-writable field never comes
back as markup, and JSON handed to the page's scripts cannot close its <script> element.

The pages are enumerated from the app's routes, so a new page is checked without touching this file.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import json
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.tables import Project
from tests.factories import make_run
from tests.server.pages.html import csrf_token

PAYLOAD = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>"
# Path segments cannot hold the '/' of "</script>", so ids that travel in URLs use this one.
SLASHLESS = "\"'><img src=x onerror=alert(1)>"
UNESCAPED = ("<script>alert(1)", "<img src=x onerror")
# Pages that must show some of the stored payload, or the test proves nothing there. (Pages that appear
# later are still checked for escaping; add them here once they show user text.)
SHOW_USER_TEXT = {
    "/",
    "/projects/{project_id}",
    "/projects/{project_id}/runs/new",
    "/projects/{project_id}/sweeps",
    "/projects/{project_id}/sweeps/new",
    "/runs/{run_id}",
    "/runs/{run_id}/errors",
    "/runs/{run_id}/errors/compare",
    "/runs/{run_id}/errors/counts",
    "/compare",
    "/datasets",
    "/sweeps/{sweep_id}",
    "/gradchecks/{check_id}",
}


@dataclass(frozen=True)
class Created:
    """Ids of the rows that carry the payload, by the path parameter that names them."""

    ids: dict[str, list[str]]
    other_run: int


NOT_PAGES = ("/api/", "/ajax-api/", "/docs", "/redoc", "/openapi")


def page_routes(app: FastAPI) -> list[APIRoute]:
    """Every GET route outside /api (and MLflow's /ajax-api) and the docs: the HTML pages, however the
    routers are nested."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, APIRoute]]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield prefix + route.path, route
            elif hasattr(route, "original_router"):  # FastAPI's wrapper of an included router
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "routes") and not hasattr(route, "app"):  # older FastAPI: a plain list
                yield from walk(route.routes, prefix)

    pages = [
        route
        for path, route in walk(list(app.routes), "")
        if "GET" in route.methods and not path.startswith(NOT_PAGES)
    ]
    paths = {route.path for route in pages}
    # A broken walk would check nothing and pass: make sure the pages we know are found.
    assert {"/", "/projects/{project_id}", "/runs/{run_id}", "/runs/{run_id}/errors", "/datasets"} <= paths
    return pages


def _csv_with_payload_classes() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["a", "b", PAYLOAD])
    for i in range(30):
        writer.writerow([i % 3 + 0.5, i * 0.1, PAYLOAD if i % 2 else "plain"])
    return buffer.getvalue().encode()


def _ok(response: Any) -> Any:
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def _store_payload_everywhere(client: TestClient, session: Session) -> Created:
    """Write the payload through the API into every field a user (or a worker) can set."""
    dataset = _ok(
        client.post(
            "/api/v1/datasets",
            data={"name": PAYLOAD, "label_column": PAYLOAD, "description": PAYLOAD},
            files={"file": (f"{SLASHLESS}.csv", _csv_with_payload_classes(), "text/csv")},
        )
    )
    assert PAYLOAD in dataset["classes"]
    uploaded = _ok(
        client.post("/api/v1/projects", json={"name": f"{PAYLOAD} up", "dataset": str(dataset["id"])})
    )
    project = _ok(
        client.post(
            "/api/v1/projects",
            json={"name": PAYLOAD, "dataset": "digits", "description": PAYLOAD, "human_level_error": 0.01},
        )
    )
    pid = project["id"]
    params = {PAYLOAD: PAYLOAD, "nested": {PAYLOAD: [PAYLOAD]}}
    external = _ok(
        client.post(
            "/api/v1/runs", json={"project_id": pid, "name": PAYLOAD, "external": True, "params": params}
        )
    )
    rid = external["id"]
    points = [
        {"key": key, "step": step, "value": 0.3 / step}
        for key in ("train_error", "train_dev_error", "dev_error", "test_error", "train_loss")
        for step in (1, 2, 3)
    ]
    _ok(client.post(f"/api/v1/runs/{rid}/metrics", json={"metrics": points}))
    predictions = [
        {"example_id": PAYLOAD, "label": PAYLOAD, "predicted": "plain", "confidence": 0.9},
        {"example_id": SLASHLESS, "label": "plain", "predicted": PAYLOAD, "confidence": 0.8},
        {"example_id": "digits-1", "label": 1, "predicted": 7, "confidence": 0.7},
    ]
    for split in ("dev", "test"):
        _ok(client.post(f"/api/v1/runs/{rid}/predictions", json={"split": split, "predictions": predictions}))
    _ok(client.post(f"/api/v1/projects/{pid}/tags", json={"name": PAYLOAD}))
    _ok(
        client.post(
            f"/api/v1/projects/{pid}/examples/tags",
            json={"example_ids": [PAYLOAD, SLASHLESS], "add": [PAYLOAD, "mislabeled", SLASHLESS]},
        )
    )
    _ok(client.put(f"/api/v1/projects/{pid}/label-corrections/{SLASHLESS}", json={"corrected_label": 7}))
    _ok(client.post(f"/api/v1/runs/{rid}/finish", json={"status": "failed", "error": PAYLOAD}))
    # Only external data takes free-text corrected labels (a built-in dataset's are class indexes); apply
    # it, so the tag history shows the payload too.
    external_project = _ok(
        client.post("/api/v1/projects", json={"name": f"{PAYLOAD} ext", "dataset": "external"})
    )
    xid = external_project["id"]
    external_run = _ok(
        client.post("/api/v1/runs", json={"project_id": xid, "name": PAYLOAD, "external": True})
    )
    _ok(
        client.post(
            f"/api/v1/runs/{external_run['id']}/predictions",
            json={"split": "dev", "predictions": predictions},
        )
    )
    _ok(
        client.put(f"/api/v1/projects/{xid}/label-corrections/{SLASHLESS}", json={"corrected_label": PAYLOAD})
    )
    _ok(client.post(f"/api/v1/projects/{xid}/label-corrections/apply"))

    # A second run (a queued training run) to compare with, and one whose stored config holds the payload.
    queued = _ok(client.post("/api/v1/runs", json={"project_id": pid, "name": f"{PAYLOAD} 2", "config": {}}))
    _ok(
        client.post(
            f"/api/v1/runs/{queued['id']}/predictions", json={"split": "dev", "predictions": predictions}
        )
    )
    stored = make_run(
        session,
        session.get(Project, pid),
        name=f"{PAYLOAD} 3",
        config={"model": {"name": "mlp", PAYLOAD: PAYLOAD}, "hparams": {"lr": 0.01}},
        params={PAYLOAD: PAYLOAD},
    )
    clone = _ok(
        client.post(
            f"/api/v1/runs/{queued['id']}/clone", json={"changes": {"hparams.lr": 0.5}, "name": PAYLOAD}
        )
    )

    sweep = _ok(
        client.post(
            "/api/v1/sweeps",
            json={
                "project_id": pid,
                "name": PAYLOAD,
                "space": {
                    "hparams.lr": {"log_uniform": [1e-3, 1e-1]},
                    "hparams.optimizer": {"choice": ["sgd", "adam"]},
                },
                "trials": 2,
            },
        )
    )
    checks = []
    for result in (
        {"parameters": [{"name": PAYLOAD, "relative_difference": 1e-3, "reading": PAYLOAD}]},
        {"error": PAYLOAD},
    ):
        check = _ok(client.post("/api/v1/gradcheck", json={"project_id": pid}))
        _ok(client.put(f"/api/v1/gradcheck/{check['id']}/result", json=result))
        checks.append(check["id"])
    return Created(
        ids={
            "project_id": [str(pid), str(uploaded["id"])],
            "run_id": [
                str(rid),
                str(queued["id"]),
                str(stored.id),
                str(clone["id"]),
                str(external_run["id"]),
            ],
            "sweep_id": [str(sweep["id"])],
            "check_id": checks,
            "dataset_id": [str(dataset["id"])],
        },
        other_run=queued["id"],
    )


def _is_text(annotation: Any) -> bool:
    """A query parameter that takes free text (str or str | None), where a reflected payload could land."""
    return annotation is str or set(typing.get_args(annotation)) == {str, type(None)}


def _urls(route: APIRoute, created: Created, *, reflect: bool) -> list[str]:
    """The route filled with every combination of the created ids (and, with reflect, the payload in its
    free-text query parameters)."""
    names = re.findall(r"{(\w+)}", route.path)
    missing = [name for name in names if name not in created.ids]
    assert not missing, f"{route.path}: the test has no ids for {missing}; create a row for it above"
    run_ids = created.ids["run_id"]
    fixed = {"other": str(created.other_run), "runs": f"{run_ids[0]}&runs={run_ids[1]}&runs={run_ids[2]}"}
    query = []
    for param in route.dependant.query_params:
        if param.name in fixed:
            query.append(f"{param.name}={fixed[param.name]}")
        elif reflect and _is_text(param.field_info.annotation):
            query.append(f"{param.name}={PAYLOAD}")
    urls = []
    for values in itertools.product(*(created.ids[name] for name in names)):
        path = route.path
        for name, value in zip(names, values, strict=True):
            path = path.replace("{" + name + "}", value)
        urls.append(path + ("?" + "&".join(query) if query else ""))
    return urls


def _json_blobs(page: str) -> list[Any]:
    """The decoded <script type="application/json"> blocks; an early </script> makes one fail to parse."""
    blobs = []
    for match in re.finditer(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S):
        try:
            blobs.append(json.loads(match.group(1)))
        except json.JSONDecodeError as exc:  # pragma: no cover - the failure we are looking for
            raise AssertionError(f"JSON block cut short or broken: {match.group(1)[:200]!r}") from exc
    return blobs


def _strings(value: Any) -> set[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value) | {s for item in value.values() for s in _strings(item)}
    if isinstance(value, list):
        return {s for item in value for s in _strings(item)}
    return set()


def _assert_escaped(url: str, page: str) -> None:
    for needle in UNESCAPED:
        assert needle not in page, (
            f"{url} renders the payload as markup near: {page[page.find(needle) - 200 :][:300]!r}"
        )
    # Attributes: a quote in the payload must not end the attribute it sits in.
    assert "\"'><img" not in page, f"{url} lets the payload close an attribute"


@pytest.fixture
def created(client: TestClient, session: Session) -> Created:
    return _store_payload_everywhere(client, session)


def test_every_page_escapes_stored_payloads(client: TestClient, app: FastAPI, created: Created) -> None:
    blobs_with_payload = 0
    showing: set[str] = set()
    for route in page_routes(app):
        for url in _urls(route, created, reflect=False):
            response = client.get(url)
            assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:300]}"
            _assert_escaped(url, response.text)
            blobs = _json_blobs(response.text)
            blobs_with_payload += sum(PAYLOAD in _strings(blob) for blob in blobs)
            text = html.unescape(response.text)
            if PAYLOAD in text or SLASHLESS in text:
                showing.add(route.path)
    # The pages that show user-written text did get the payload (else this test would prove nothing).
    assert SHOW_USER_TEXT <= showing, f"no stored text shown on {sorted(SHOW_USER_TEXT - showing)}"
    # The run, compare and error-analysis pages hand names and tags to their scripts as JSON.
    assert blobs_with_payload >= 3


def test_every_page_escapes_reflected_query_text(client: TestClient, app: FastAPI, created: Created) -> None:
    missing = client.get(f"/no-such-page/{SLASHLESS}")
    assert missing.status_code == 404
    _assert_escaped("/no-such-page", missing.text)
    for route in page_routes(app):
        # A free-text path parameter (e.g. a gradient check's id) ends up in the "not found" message.
        text_params = {p.name for p in route.dependant.path_params if _is_text(p.field_info.annotation)}
        if text_params:
            url = route.path
            for name in re.findall(r"{(\w+)}", route.path):
                value = SLASHLESS if name in text_params else created.ids[name][0]
                url = url.replace("{" + name + "}", value)
            response = client.get(url)
            assert response.status_code < 500, f"{url}: {response.status_code}"
            _assert_escaped(url, response.text)
        if not any(_is_text(p.field_info.annotation) for p in route.dependant.query_params):
            continue
        for url in _urls(route, created, reflect=True)[:1]:
            response = client.get(url)
            assert response.status_code < 500, f"{url}: {response.status_code}"
            _assert_escaped(url, response.text)
            _json_blobs(response.text)


def test_forms_that_echo_their_input_escape_it(
    client: TestClient, session: Session, created: Created
) -> None:
    token = csrf_token(client)
    pid = created.ids["project_id"][0]
    posts = {
        "/projects": {
            "name": PAYLOAD,
            "dataset": PAYLOAD,
            "description": PAYLOAD,
            "human_level_error": PAYLOAD,
        },
        f"/projects/{pid}": {"name": PAYLOAD, "description": PAYLOAD, "human_level_error": PAYLOAD},
        f"/projects/{pid}/runs": {"name": PAYLOAD, "model": PAYLOAD, "hp_lr": PAYLOAD},
        f"/projects/{pid}/sweeps": {"name": PAYLOAD, "trials": PAYLOAD, "on_0": "true", "low_0": PAYLOAD},
        "/datasets": {"name": PAYLOAD, "description": PAYLOAD},
        "/login": {"token": PAYLOAD, "next": PAYLOAD},
    }
    for url, form in posts.items():
        response = client.post(url, data={"csrf_token": token, **form})
        assert response.status_code < 500, f"{url}: {response.status_code} {response.text[:300]}"
        _assert_escaped(url, response.text)
