"""MLflow's REST calls answered in MLflow's shape (the real client is driven in test_mlflow_client.py)."""

from __future__ import annotations

import pytest

API = "/api/2.0/mlflow"


def test_experiment_and_run_round_trip(client) -> None:  # type: ignore[no-untyped-def]
    created = client.post(f"{API}/experiments/create", json={"name": "mnist"})
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    run = client.post(
        f"{API}/runs/create",
        json={"experiment_id": experiment_id, "start_time": 1_700_000_000_123, "run_name": "a", "tags": []},
    ).json()["run"]
    run_id = run["info"]["run_id"]
    assert run["info"]["start_time"] == 1_700_000_000_123
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1_700_000_000_500 + s, "step": s}
            for s in range(5)
        ],
        "params": [{"key": "lr", "value": "0.01"}],
        "tags": [{"key": "team", "value": "vision"}],
    }
    assert client.post(f"{API}/runs/log-batch", json=batch).status_code == 200
    got = client.get(f"{API}/runs/get", params={"run_id": run_id}).json()["run"]
    assert got["data"]["params"] == [{"key": "lr", "value": "0.01"}]
    assert {"key": "team", "value": "vision"} in got["data"]["tags"]
    assert got["data"]["metrics"] == [
        {"key": "loss", "value": 0.2, "timestamp": 1_700_000_000_504, "step": 4}
    ]
    history = client.get(
        f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss", "max_results": 2}
    ).json()
    assert [p["step"] for p in history["metrics"]] == [0, 1]
    found = client.post(
        f"{API}/runs/search",
        json={"experiment_ids": [experiment_id], "filter": "metrics.loss < 0.5 and params.lr = '0.01'"},
    ).json()
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]
    bad = client.post(
        f"{API}/runs/search", json={"experiment_ids": [experiment_id], "filter": "metrics.loss <"}
    )
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "position 14" in bad.json()["message"]
    missing = client.get(f"{API}/experiments/get-by-name", params={"experiment_name": "nope"})
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    other = client.post(f"{API}/registered-models/create", json={"name": "m"})
    assert other.status_code == 501
    assert "registered-models/create" in other.json()["message"]


def _run(client, experiment: str = "exp", **fields) -> str:  # type: ignore[no-untyped-def]
    found = client.get(f"{API}/experiments/get-by-name", params={"experiment_name": experiment})
    if found.status_code == 404:
        experiment_id = client.post(f"{API}/experiments/create", json={"name": experiment}).json()[
            "experiment_id"
        ]
    else:
        experiment_id = found.json()["experiment"]["experiment_id"]
    body = {"experiment_id": experiment_id, **fields}
    return client.post(f"{API}/runs/create", json=body).json()["run"]["info"]["run_id"]  # type: ignore[no-any-return]


def _exp(client) -> str:  # type: ignore[no-untyped-def]
    found = client.get(f"{API}/experiments/get-by-name", params={"experiment_name": "exp"})
    return found.json()["experiment"]["experiment_id"]  # type: ignore[no-any-return]


def _search(client, **body) -> list[str]:  # type: ignore[no-untyped-def]
    answer = client.post(f"{API}/runs/search", json={"experiment_ids": [_exp(client)], **body})
    assert answer.status_code == 200, answer.text
    return [r["info"]["run_name"] for r in answer.json().get("runs", [])]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "words"),
    [
        ("get", "/runs/get", {"run_id": "424242"}, 404, "RESOURCE_DOES_NOT_EXIST", "424242"),
        ("get", "/runs/get", {"run_id": "abc"}, 404, "RESOURCE_DOES_NOT_EXIST", "abc"),
        ("get", "/runs/get", {}, 400, "INVALID_PARAMETER_VALUE", "run_id"),
        (
            "get",
            "/experiments/get",
            {"experiment_id": "99999999999999999999"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
            "",
        ),
        (
            "post",
            "/runs/log-batch",
            {"run_id": "1", "metrics": "lots"},
            400,
            "INVALID_PARAMETER_VALUE",
            "metrics",
        ),
        ("post", "/runs/search", {"max_results": 0}, 400, "INVALID_PARAMETER_VALUE", "max_results"),
        ("post", "/runs/search", {"page_token": "not-a-token"}, 400, "INVALID_PARAMETER_VALUE", "page token"),
        ("post", "/runs/search", {"run_view_type": "SOME"}, 400, "INVALID_PARAMETER_VALUE", "run_view_type"),
        ("post", "/experiments/search", {"filter": "name = "}, 400, "INVALID_PARAMETER_VALUE", "position 7"),
        ("post", "/experiments/create", {"name": ""}, 400, "INVALID_PARAMETER_VALUE", "name"),
        (
            "get",
            "/model-versions/get",
            {},
            501,
            "ENDPOINT_NOT_FOUND",
            "GET /api/2.0/mlflow/model-versions/get",
        ),
        ("delete", "/runs/get", {}, 405, "ENDPOINT_NOT_FOUND", "use GET"),
        ("put", "/runs/update", {}, 405, "ENDPOINT_NOT_FOUND", "use POST"),
    ],
)
def test_refusals_come_in_mlflows_shape(client, method, path, body, status, code, words) -> None:  # type: ignore[no-untyped-def]
    _run(client)
    if method == "get":
        answer = client.get(f"{API}{path}", params=body)
    elif method == "post":
        answer = client.post(f"{API}{path}", json=body)
    else:
        answer = client.request(method.upper(), f"{API}{path}")
    assert answer.status_code == status, answer.text
    assert answer.json()["error_code"] == code
    assert words in answer.json()["message"]


def test_a_body_that_is_not_json_is_invalid_not_a_crash(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post(
        f"{API}/runs/create", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("metric", "words"),
    [
        ({"key": "loss", "value": "NaN", "timestamp": 1, "step": 0}, "must be finite"),
        ({"key": "dev_error", "value": 8.0, "timestamp": 1, "step": 0}, "dev_error"),
        ({"key": "bad key!", "value": 1.0, "timestamp": 1, "step": 0}, "metrics[0].key"),
        ({"key": "loss", "value": 1.0, "timestamp": 1, "step": -1}, "metrics[0].step"),
    ],
)
def test_metrics_trainboard_refuses_are_invalid_parameter_values(client, metric, words) -> None:  # type: ignore[no-untyped-def]
    run_id = _run(client)
    answer = client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [metric]})
    assert (answer.status_code, answer.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), answer.text
    assert words in answer.json()["message"]


def test_the_ajax_prefix_and_the_default_experiment(client) -> None:  # type: ignore[no-untyped-def]
    run = client.post("/ajax-api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).json()["run"]
    experiment = client.get(f"{API}/experiments/get", params={"experiment_id": "0"}).json()["experiment"]
    assert experiment["name"] == "Default"
    assert run["info"]["experiment_id"] == experiment["experiment_id"]  # the same project, made once
    refused = client.post(f"{API}/experiments/delete", json={"experiment_id": experiment["experiment_id"]})
    assert refused.json()["error_code"] == "INVALID_STATE"


def test_search_filters_orders_and_pages(client) -> None:  # type: ignore[no-untyped-def]
    for name, loss, status in (
        ("Base", 0.5, "FINISHED"),
        ("base", 0.2, "FAILED"),
        ("other", None, "RUNNING"),
    ):
        run_id = _run(client, run_name=name)
        if loss is not None:
            client.post(
                f"{API}/runs/log-metric",
                json={"run_id": run_id, "key": "loss", "value": loss, "timestamp": 5, "step": 3},
            )
        client.post(
            f"{API}/runs/update", json={"run_id": run_id, "status": status, "end_time": 1_800_000_000_000}
        )
    assert _search(client, filter="attributes.run_name LIKE 'b%'") == [
        "base"
    ]  # LIKE minds case, on SQLite too
    assert sorted(_search(client, filter="attributes.run_name ILIKE 'b%'")) == ["Base", "base"]
    assert _search(client, filter="attributes.status = 'FAILED'") == ["base"]
    assert _search(client, filter="attributes.status != 'RUNNING' and metrics.loss >= 0.5") == ["Base"]
    assert _search(client, order_by=["metrics.loss ASC"]) == ["base", "Base", "other"]  # no value: last
    assert _search(client, order_by=["metrics.loss DESC"]) == ["Base", "base", "other"]
    first = client.post(
        f"{API}/runs/search",
        json={"experiment_ids": [_exp(client)], "max_results": 2, "order_by": ["attributes.run_name ASC"]},
    ).json()
    rest = client.post(
        f"{API}/runs/search",
        json={
            "experiment_ids": [_exp(client)],
            "max_results": 2,
            "order_by": ["attributes.run_name ASC"],
            "page_token": first["next_page_token"],
        },
    ).json()
    assert [r["info"]["run_name"] for r in first["runs"] + rest["runs"]] == ["Base", "base", "other"]
    assert "next_page_token" not in rest
    run = client.get(
        f"{API}/runs/get", params={"run_id": _search_ids(client, "attributes.run_name = 'base'")[0]}
    ).json()["run"]
    assert (run["info"]["status"], run["info"]["end_time"]) == ("FAILED", 1_800_000_000_000)


def _search_ids(client, filter_text: str) -> list[str]:  # type: ignore[no-untyped-def]
    answer = client.post(
        f"{API}/runs/search", json={"experiment_ids": [_exp(client)], "filter": filter_text}
    ).json()
    return [r["info"]["run_id"] for r in answer["runs"]]


def test_the_sampled_read_keeps_a_series_shape(client) -> None:  # type: ignore[no-untyped-def]
    run_id = _run(client)
    values = [((s * 7919) % 1000) / 1000 for s in range(3000)]
    values[1234], values[2345] = -5.0, 9.0
    for start in range(0, 3000, 1000):
        batch = [
            {"key": "loss", "value": values[s], "timestamp": 1000 + s, "step": s}
            for s in range(start, start + 1000)
        ]
        assert (
            client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": batch}).status_code == 200
        )
    sampled = client.get(
        f"{API}/metrics/get-history-bulk-interval",
        params={"run_ids": [run_id], "metric_key": "loss", "max_results": 100},
    ).json()["metrics"]
    assert 2 < len(sampled) <= 100
    assert {p["value"] for p in sampled} >= {-5.0, 9.0}  # the extremes survive the sampling
    assert all(p["timestamp"] == 1000 + p["step"] and p["run_id"] == run_id for p in sampled)
    window = client.get(
        f"{API}/metrics/get-history-bulk-interval",
        params={"run_ids": [run_id], "metric_key": "loss", "start_step": 10, "end_step": 19},
    ).json()["metrics"]
    assert [p["step"] for p in window] == list(range(10, 20))
    history = client.get(
        f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss", "max_results": 2000}
    ).json()
    rest = client.get(
        f"{API}/metrics/get-history",
        params={
            "run_id": run_id,
            "metric_key": "loss",
            "max_results": 2000,
            "page_token": history["next_page_token"],
        },
    ).json()
    assert [p["step"] for p in history["metrics"] + rest["metrics"]] == list(range(3000))
