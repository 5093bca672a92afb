"""Run lists filtered by an expression (?q=), searched by name, and archived runs (DELETE / restore), on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def project_id(client: TestClient) -> int:
    return int(client.post("/api/v1/projects", json={"name": "queries", "dataset": "external"}).json()["id"])


def make(client: TestClient, project_id: int, name: str, metrics: dict[str, float], **fields: Any) -> int:
    response = client.post(
        "/api/v1/runs", json={"project_id": project_id, "external": True, "name": name, **fields}
    )
    assert response.status_code == 201, response.text
    run_id: int = response.json()["id"]
    points = [{"key": k, "value": v, "step": 1} for k, v in metrics.items()]
    if points:
        assert client.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points}).status_code < 300
    return run_id


@pytest.fixture
def runs(client: TestClient, project_id: int) -> dict[str, int]:
    return {
        "base-small": make(
            client, project_id, "base-small", {"dev_error": 0.04}, params={"lr": 0.001, "opt": "adam"},
            tags=["baseline"],
        ),
        "base-big": make(
            client, project_id, "base-big", {"dev_error": 0.08}, params={"lr": 0.001, "opt": "sgd"},
            tags=["baseline", "big"],
        ),
        "ResNet-fast": make(
            client, project_id, "ResNet-fast", {"dev_error": 0.03, "val/f1": 0.9},
            params={"lr": 0.1, "opt": "adam", "augment": True}, group="seeds",
        ),
        "no-metrics": make(client, project_id, "no-metrics", {}, params={"lr": "auto"}),
    }  # fmt: skip


def names(client: TestClient, project_id: int, **params: Any) -> set[str]:
    response = client.get("/api/v1/runs", params={"project_id": project_id, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return {run["name"] for run in body["items"]}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('params.lr < 0.01 and metrics.dev_error < 0.05 and tags contains "baseline"', {"base-small"}),
        ("metrics.dev_error <= 0.04", {"base-small", "ResNet-fast"}),
        ('params.opt = "adam"', {"base-small", "ResNet-fast"}),
        ('params.opt != "adam"', {"base-big"}),  # runs without the param do not match
        ("params.lr >= 0.001", {"base-small", "base-big", "ResNet-fast"}),  # "auto" is not a number
        ('params.lr = "auto"', {"no-metrics"}),
        ("params.augment = true", {"ResNet-fast"}),
        ("metrics.val/f1 > 0.5", {"ResNet-fast"}),
        ('tags contains "big" or group = "seeds"', {"base-big", "ResNet-fast"}),
        ('name ~ "^base-"', {"base-small", "base-big"}),
        (r'name ~ "^[a-z]+-\w+$" and name ~ "\.?l"', {"base-small"}),  # \w and \. reach the regex
        ('not name ~ "^base-" and (status = "running" or status = "queued")', {"ResNet-fast", "no-metrics"}),
        ("  ", {"base-small", "base-big", "ResNet-fast", "no-metrics"}),
    ],
)
def test_a_filter_expression_picks_the_runs_it_describes(
    client: TestClient, project_id: int, runs: dict[str, int], q: str, expected: set[str]
) -> None:
    assert names(client, project_id, q=q) == expected


@pytest.mark.parametrize(
    ("q", "where"),
    [
        ("params.lr <", "position 11"),
        ("metrics.dev_error < 0.05 and", "position 28"),
        ('tags = "x"', "position 5"),
        ("colour = 1", "position 0"),
        ('name ~ "(unclosed"', "bad regular expression"),
        ('name = "open', "not closed"),
        ('name ~ "(?P<n>x)"', "not supported"),  # Python-only syntax would break on PostgreSQL
    ],
)
def test_a_malformed_expression_is_a_422_that_says_where_it_broke(
    client: TestClient, project_id: int, runs: dict[str, int], q: str, where: str
) -> None:
    response = client.get("/api/v1/runs", params={"project_id": project_id, "q": q})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "q"]
    assert where in error["msg"]


def test_a_summary_sort_and_paging_keep_the_filter(
    client: TestClient, project_id: int, runs: dict[str, int]
) -> None:
    page = client.get(
        "/api/v1/runs",
        params={"project_id": project_id, "q": "metrics.dev_error < 0.1", "sort": "dev_error", "limit": 2},
    ).json()
    assert page["total"] == 3
    assert [r["name"] for r in page["items"]] == ["ResNet-fast", "base-small"]
    rest = client.get(
        "/api/v1/runs",
        params={
            "project_id": project_id,
            "q": "metrics.dev_error < 0.1",
            "sort": "dev_error",
            "limit": 2,
            "cursor": page["next_cursor"],
        },
    ).json()
    assert [r["name"] for r in rest["items"]] == ["base-big"]


def test_search_finds_a_part_of_the_name_in_any_case_and_takes_wildcards_literally(
    client: TestClient, project_id: int, runs: dict[str, int]
) -> None:
    assert names(client, project_id, search="resnet") == {"ResNet-fast"}
    assert names(client, project_id, search="BASE") == {"base-small", "base-big"}
    assert names(client, project_id, search="%") == set()


def test_an_archived_run_leaves_the_lists_until_it_is_restored(
    client: TestClient, project_id: int, runs: dict[str, int]
) -> None:
    run_id = runs["base-big"]
    archived = client.delete(f"/api/v1/runs/{run_id}")
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert client.get(f"/api/v1/runs/{run_id}").json()["archived_at"] is not None  # still readable
    assert names(client, project_id) == {"base-small", "ResNet-fast", "no-metrics"}
    assert names(client, project_id, archived="true") == {"base-big"}
    assert names(client, project_id, q='tags contains "baseline"') == {"base-small"}
    restored = client.post(f"/api/v1/runs/{run_id}/restore")
    assert restored.status_code == 200 and restored.json()["archived_at"] is None
    assert names(client, project_id) == set(runs)
    assert names(client, project_id, archived="true") == set()


def test_archiving_a_missing_run_is_a_404(client: TestClient) -> None:
    assert client.delete("/api/v1/runs/999999").status_code == 404
    assert client.post("/api/v1/runs/999999/restore").status_code == 404
