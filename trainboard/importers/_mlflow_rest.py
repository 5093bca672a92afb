"""A few MLflow REST calls over httpx, for reading an MLflow server and for writing to Trainboard's
MLflow API (the server's own ingestion path: metric aliases, summaries, rollups, the diagnosis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

PREFIX = "/api/2.0/mlflow"
#: The tag an imported run carries: where it came from, so that importing again finds it.
SOURCE_TAG = "trainboard.import.source"
METRICS_PER_BATCH = 1000  # MLflow's own cap on log-batch
PARAMS_PER_BATCH = 100


class ImportFailure(Exception):
    """A call the other side refused; the message says which and why."""


def call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = http.request(method, PREFIX + path, **kwargs)
    except httpx.HTTPError as exc:
        raise ImportFailure(f"{method} {PREFIX}{path}: {exc}") from exc
    body: dict[str, Any]
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        reason = body.get("message") or body.get("detail") or response.text[:300]
        raise ImportFailure(f"{method} {PREFIX}{path}: {response.status_code} {reason}")
    return body


def paged(http: httpx.Client, path: str, body: dict[str, Any], items: str) -> Iterator[dict[str, Any]]:
    """Every item of a paged POST search (experiments or runs)."""
    token = None
    while True:
        page = call(http, "POST", path, json={**body, **({"page_token": token} if token else {})})
        yield from page.get(items, [])
        token = page.get("next_page_token")
        if not token:
            return


def history(http: httpx.Client, run_id: str, key: str) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        params = {"run_id": run_id, "metric_key": key, "max_results": 25_000}
        page = call(
            http, "GET", "/metrics/get-history", params={**params, **({"page_token": token} if token else {})}
        )
        yield from page.get("metrics", [])
        token = page.get("next_page_token")
        if not token:
            return


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Target:
    """Trainboard's MLflow API: find or make the project and the run, then send the points."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def experiment(self, name: str) -> str:
        try:
            found = call(self.http, "GET", "/experiments/get-by-name", params={"experiment_name": name})
            return str(found["experiment"]["experiment_id"])
        except ImportFailure as exc:
            if " 404 " not in str(exc):
                raise
        return str(call(self.http, "POST", "/experiments/create", json={"name": name})["experiment_id"])

    def find_run(self, experiment_id: str, source: str) -> str | None:
        body = {"experiment_ids": [experiment_id], "filter": f"tags.`{SOURCE_TAG}` = {quoted(source)}"}
        runs = call(self.http, "POST", "/runs/search", json={**body, "max_results": 1}).get("runs", [])
        return str(runs[0]["info"]["run_id"]) if runs else None

    def create_run(
        self, experiment_id: str, *, name: str, start_time: int | None, tags: dict[str, str], source: str
    ) -> str:
        every = [{"key": k, "value": v} for k, v in {**tags, SOURCE_TAG: source}.items()]
        body: dict[str, Any] = {"experiment_id": experiment_id, "run_name": name, "tags": every}
        if start_time is not None:
            body["start_time"] = start_time
        return str(call(self.http, "POST", "/runs/create", json=body)["run"]["info"]["run_id"])

    def log(self, run_id: str, *, params: dict[str, str], points: list[dict[str, Any]]) -> None:
        pairs = [{"key": k, "value": v} for k, v in params.items()]
        for start in range(0, len(pairs), PARAMS_PER_BATCH):
            call(
                self.http,
                "POST",
                "/runs/log-batch",
                json={"run_id": run_id, "params": pairs[start : start + PARAMS_PER_BATCH]},
            )
        for start in range(0, len(points), METRICS_PER_BATCH):
            batch = points[start : start + METRICS_PER_BATCH]
            call(self.http, "POST", "/runs/log-batch", json={"run_id": run_id, "metrics": batch})

    def finish(self, run_id: str, status: str, end_time: int | None) -> None:
        if status in ("FINISHED", "FAILED", "KILLED"):
            body: dict[str, Any] = {"run_id": run_id, "status": status}
            if end_time is not None:
                body["end_time"] = end_time
            call(self.http, "POST", "/runs/update", json=body)
