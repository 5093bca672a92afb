"""Downloads: GET /runs.csv (runs x params and summary metrics, formula cells defused) and one series
with its timestamps as CSV or JSON."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from server.api.downloads import attachment


@pytest.fixture
def project_id(client: TestClient) -> int:
    return int(client.post("/api/v1/projects", json={"name": "export", "dataset": "external"}).json()["id"])


def make(
    client: TestClient, project_id: int, name: str, params: dict[str, object], points: list[dict[str, object]]
) -> int:
    run = client.post(
        "/api/v1/runs", json={"project_id": project_id, "external": True, "name": name, "params": params}
    ).json()
    if points:
        assert client.post(f"/api/v1/runs/{run['id']}/metrics", json={"metrics": points}).status_code < 300
    return int(run["id"])


def test_runs_csv_has_a_row_a_run_with_params_and_summary_metrics_as_columns(
    client: TestClient, project_id: int
) -> None:
    first = make(client, project_id, "=HYPERLINK(\"http://x\")", {"lr": 0.1, "opt": "-adam"}, [
        {"key": "dev_error", "value": 0.2, "step": 1}, {"key": "dev_error", "value": 0.1, "step": 2},
    ])  # fmt: skip
    second = make(client, project_id, "plain", {"lr": 0.01}, [{"key": "val/f1", "value": 0.5, "step": 1}])
    response = client.get("/api/v1/runs.csv", params={"project_id": project_id})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-total-count"] == "2"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in rows] == [second, first]  # newest first
    assert {k for k in rows[0] if "." in k} == {
        "params.lr",
        "params.opt",
        "metrics.dev_error",
        "metrics.val/f1",
    }
    by_id = {int(r["id"]): r for r in rows}
    assert by_id[first]["name"] == '\'=HYPERLINK("http://x")'  # a formula is text in a spreadsheet
    assert by_id[first]["params.opt"] == "'-adam"
    assert float(by_id[first]["metrics.dev_error"]) == 0.1  # the summary: the latest value
    assert by_id[second]["metrics.dev_error"] == ""
    assert float(by_id[second]["params.lr"]) == 0.01


def test_runs_csv_takes_the_filter_expression_and_refuses_a_bad_one(
    client: TestClient, project_id: int
) -> None:
    make(client, project_id, "a", {"lr": 0.1}, [])
    make(client, project_id, "b", {"lr": 0.001}, [])
    response = client.get("/api/v1/runs.csv", params={"project_id": project_id, "q": "params.lr < 0.01"})
    assert [r["name"] for r in csv.DictReader(io.StringIO(response.text))] == ["b"]
    bad = client.get("/api/v1/runs.csv", params={"project_id": project_id, "q": "params.lr <<"})
    assert bad.status_code == 422 and "position" in bad.json()["detail"][0]["msg"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_series_downloads_with_every_point_and_its_timestamp(
    client: TestClient, project_id: int, fmt: str
) -> None:
    points = [
        {"key": "val/f1", "value": i / 10, "step": i, "timestamp": f"2026-01-01T00:00:{i:02d}Z"}
        for i in range(12)
    ]
    run_id = make(client, project_id, "s", {}, points)
    response = client.get(f"/api/v1/runs/{run_id}/series.{fmt}", params={"key": "val/f1"})
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(response.text)))
        got = [(int(r["step"]), float(r["value"]), r["timestamp"]) for r in rows]
    else:
        body = response.json()
        assert body["key"] == "val/f1"
        got = [(p["step"], p["value"], p["timestamp"]) for p in body["points"]]
    assert [(s, v) for s, v, _ in got] == [(i, i / 10) for i in range(12)]
    assert got[3][2].startswith("2026-01-01T00:00:03")


def test_a_series_of_a_missing_run_is_a_404_and_an_unknown_format_a_404_or_422(
    client: TestClient, project_id: int
) -> None:
    assert client.get("/api/v1/runs/999999/series.csv", params={"key": "x"}).status_code == 404
    run_id = make(client, project_id, "s", {}, [])
    assert client.get(f"/api/v1/runs/{run_id}/series.xml", params={"key": "x"}).status_code == 422
    empty = client.get(f"/api/v1/runs/{run_id}/series.json", params={"key": "nothing"})
    assert empty.json()["points"] == []


def test_a_series_key_outside_the_metric_key_alphabet_is_a_422_naming_the_field(
    client: TestClient, project_id: int
) -> None:
    # A key no run can have logged; put into the download's filename it once made Starlette's Latin-1
    # header encoding fail (a 500).
    run_id = make(client, project_id, "u", {}, [])
    response = client.get(f"/api/v1/runs/{run_id}/series.csv", params={"key": "损失\U0002deb0"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "key"]


def test_a_download_name_outside_latin_1_keeps_an_ascii_fallback_and_the_exact_name() -> None:
    headers = attachment("run-1-损失.csv")
    assert headers["Content-Disposition"].encode("latin-1")
    assert 'filename="run-1-__.csv"' in headers["Content-Disposition"]
    assert "filename*=UTF-8''" + quote("run-1-损失.csv", safe="") in headers["Content-Disposition"]
    assert attachment("runs.csv") == {"Content-Disposition": 'attachment; filename="runs.csv"'}
