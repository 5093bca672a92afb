"""The metric batch's fast reader (server.api.metrics_body) against the schema it twins (MetricsIn): the same
inputs accepted with the same values, the same refused, and through the route the same 422 field locations,
on SQLite and PostgreSQL; for both forms of a batch (one object per point, or columns per key)."""

import json
import random
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.metrics_body import read_batch
from server.schemas import MetricsIn, as_utc
from server.tables import MetricPoint
from tests.factories import make_project, make_run
from trainboard._http import series_body

STAMP = "2026-01-02T03:04:05.123456+00:00"
GOOD = {"key": "train/loss", "step": 3, "value": 0.25, "timestamp": STAMP}

# Each a point's field set to a value at an edge of the schema, or past it (replacing GOOD's).
EDGES: list[tuple[str, Any]] = [
    ("key", ""),
    ("key", "a" * 250),
    ("key", "a" * 251),
    ("key", "a\n"),
    ("key", "bad key!"),
    ("key", "é"),
    ("key", 7),
    ("key", None),
    ("step", -1),
    ("step", 0),
    ("step", 2**62),
    ("step", 2**62 + 1),
    ("step", 1.0),
    ("step", 1.5),
    ("step", "3"),
    ("step", True),
    ("step", None),
    ("value", 1),
    ("value", -(2**53)),
    ("value", 2**53 + 1),
    ("value", 10**30),
    ("value", "0.5"),
    ("value", True),
    ("value", None),
    ("value", 1e308),
    ("timestamp", None),
    ("timestamp", "2026-01-02T03:04:05Z"),
    ("timestamp", "2026-01-02T03:04:05z"),
    ("timestamp", "2026-01-02T03:04:05"),
    ("timestamp", "2026-01-02 03:04:05+00:00"),
    ("timestamp", "2026-01-02T03:04:05.1234567+00:00"),
    ("timestamp", "2026-01-02T03:04:05+23:59"),
    ("timestamp", "2026-01-02T03:04:05+24:00"),
    ("timestamp", "2026-01-02T24:00:00+00:00"),
    ("timestamp", "2026-02-30T00:00:00+00:00"),
    ("timestamp", "0001-01-02T00:30:00+01:00"),
    ("timestamp", "0001-01-01T23:30:00-01:00"),
    ("timestamp", "9999-12-30T00:00:00+00:00"),
    ("timestamp", "9999-12-30T00:00:01+00:00"),
    ("timestamp", "9999-12-31T23:00:00-05:00"),
    ("timestamp", 1700000000),
    ("timestamp", ""),
]
# Whole bodies: shapes around the points.
BODIES: list[bytes] = [
    b'{"metrics": []}',
    b'{"metrics": [], "extra": 1}',
    b'{"metrics": {}}',
    b"[]",
    b"null",
    b"",
    b'{"metrics": [1]}',
    b'{"metrics": [{"key": "a", "step": 1, "value": 1, "unit": "s"}]}',
    b'{"metrics": [{"key": "a", "step": 1}]}',
    b'{"metrics": [{"key": "a", "key": "b", "step": 1, "value": 1}]}',
    b'{"metrics": [{"key": "a", "step": 1, "value": NaN}]}',
    b'{"metrics": [{"key": "a", "step": 1, "value": Infinity}]}',
    b'{"metrics": [{"key": "a", "step": 1, "value": 1e400}]}',
    b'{"metrics": [{"key": "a", "step": 1, "value": 1}]} x',
    b'\xef\xbb\xbf{"metrics": []}',
    '{"metrics": [{"key": "a", "step": 1, "value": 1}]}'.encode("utf-16"),
    b'{"metrics": [{"key": "a\xff", "step": 1, "value": 1}]}',
    b'{"metrics": [{"key": "a", "step": 1, "value": 1}, {"key": "a", "step": 1, "value": 2}]}',
]


GOOD_SERIES = {"key": "train/loss", "steps": [3, 4], "values": [0.25, 0.5], "timestamps": [STAMP, STAMP]}
# Each a series' column set to a value at an edge of the schema, or past it (replacing GOOD_SERIES's).
SERIES_EDGES: list[tuple[str, Any]] = [
    *[("key", value) for field, value in EDGES if field == "key"],
    *[("steps", [value, 4]) for field, value in EDGES if field == "step"],
    *[("values", [0.25, value]) for field, value in EDGES if field == "value"],
    *[("timestamps", [STAMP, value]) for field, value in EDGES if field == "timestamp"],
    ("steps", [3]),
    ("steps", []),
    ("steps", [4, 3]),
    ("steps", [3, 3]),
    ("steps", 3),
    ("values", [0.25]),
    ("values", [0.25, 0.5, 1.0]),
    ("values", [1e308, 1e308]),
    ("values", 0.25),
    ("timestamps", None),
    ("timestamps", [STAMP]),
    ("timestamps", [None, None]),
    ("timestamps", STAMP),
    ("timestamps", [1700000000, 1700000000.5]),
    ("timestamps", [1700000000123, 1700000000.123456]),
    ("timestamps", [1.7e9 + 0.1234565, 1.7e9 + 0.9999996]),
    ("timestamps", [0, -1]),
    ("timestamps", [-62135596800, 253402214400]),
    ("timestamps", [1e20, float("nan")]),
    ("timestamps", [True, 1]),
    ("timestamps", [1700000000, STAMP]),
    ("unit", "s"),
]
SERIES_BODIES: list[bytes] = [
    b'{"series": []}',
    b'{"series": [], "metrics": []}',
    b'{"series": [], "extra": 1}',
    b'{"series": {}}',
    b'{"series": null}',
    b"{}",
    b'{"series": [1]}',
    b'{"series": [{"key": "a", "steps": [1]}]}',
    b'{"series": [{"key": "a", "steps": [1], "values": [NaN]}]}',
    b'{"series": [{"key": "a", "steps": [1], "values": [1e400]}]}',
    b'{"series": [{"key": "a", "steps": [1, 2], "values": [1, 2]},'
    b' {"key": "a", "steps": [2, 3], "values": [5, 6]}]}',
    b'{"series": [{"key": "a", "steps": [1, 2], "values": [1, 2]},'
    b' {"key": "b", "steps": [1, 2], "values": [3, 4]}]}',
]


def _bodies() -> list[bytes]:
    """Every edge as a one-point batch and second of two, the whole bodies, and seeded random mixes."""
    made = list(BODIES)
    for field, value in EDGES:
        point = {**GOOD, field: value}
        made.append(json.dumps({"metrics": [point]}).encode())
        made.append(json.dumps({"metrics": [GOOD, point]}).encode())
    without = {k: v for k, v in GOOD.items() if k != "timestamp"}
    made.append(json.dumps({"metrics": [without, GOOD]}).encode())
    rng = random.Random(20)
    for _ in range(200):
        points = [{**GOOD, "step": rng.randrange(5)} for _ in range(rng.randrange(1, 6))]
        for point in points:
            if rng.random() < 0.3:
                field, value = rng.choice(EDGES)
                point[field] = value
        made.append(json.dumps({"metrics": points}).encode())
    made += SERIES_BODIES
    for field, value in SERIES_EDGES:
        made.append(json.dumps({"series": [{**GOOD_SERIES, field: value}]}).encode())
        made.append(json.dumps({"series": [GOOD_SERIES, {**GOOD_SERIES, field: value}]}).encode())
    for _ in range(100):
        series = []
        for _ in range(rng.randrange(1, 4)):
            steps = [rng.randrange(5) for _ in range(rng.randrange(0, 4))]
            one = {"key": rng.choice(["a", "b"]), "steps": steps, "values": [s / 3 for s in steps]}
            if rng.random() < 0.5:
                one["timestamps"] = [rng.choice([STAMP, None, 1700000000.25]) for _ in steps]
            if rng.random() < 0.3:
                field, value = rng.choice(SERIES_EDGES)
                one[field] = value
            series.append(one)
        made.append(json.dumps({"series": series}).encode())
    return made


Row = tuple[str, int, float, datetime | None]


def _pydantic(body: bytes) -> tuple[list[Row] | None, list[tuple[Any, ...]]]:
    """MetricsIn's rows for `body` and no errors, or None and its errors' locations."""
    try:
        rows, _ = MetricsIn.model_validate_json(body).rows()
    except ValidationError as exc:
        return None, [error["loc"] for error in exc.errors()]
    return rows, []


def _same_rows(fast: list[Row], slow: list[Row] | None) -> bool:
    """Equal rows, and each timestamp in the same offset (the writer converts it to UTC either way)."""
    return (
        slow is not None
        and fast == slow
        and all(
            type(f[2]) is float and (f[3] is None or f[3].utcoffset() == s[3].utcoffset())  # type: ignore[union-attr]
            for f, s in zip(fast, slow, strict=True)
        )
    )


@pytest.mark.parametrize("body", _bodies())
def test_the_fast_reader_accepts_only_what_metricsin_accepts_with_the_same_values(body: bytes) -> None:
    fast = read_batch(body)
    if fast is not None:  # None: the route asks MetricsIn, whatever it answers
        slow, errors = _pydantic(body)
        assert _same_rows(fast[0], slow), errors
        rows, locate = MetricsIn.model_validate_json(body).rows()
        assert [fast[1](i) for i in range(len(rows))] == [locate(i) for i in range(len(rows))]


def test_the_fast_reader_takes_a_client_librarys_batch() -> None:
    points = [
        {"key": f"m{k}", "step": s, "value": s / 7, "timestamp": STAMP} for s in range(100) for k in range(10)
    ]
    body = json.dumps({"metrics": points}).encode()
    fast = read_batch(body)
    assert fast is not None and _same_rows(fast[0], _pydantic(body)[0])
    series = json.dumps(series_body(points)).encode()
    compact = read_batch(series)
    assert compact is not None, "the client library's series batch takes the fast path"
    assert compact[0] == fast[0], "the same rows, in the same order, as the points they came from"
    assert len(series) < len(body) / 2


@pytest.fixture
def run_id(session: Session) -> int:
    return make_run(session, make_project(session), status="running").id


def _route_bodies() -> list[bytes]:
    """The whole bodies and each edge in both forms (not the random mixes: the route is slower)."""
    bodies = _bodies()
    points = bodies[: len(BODIES) + 2 * len(EDGES) + 1]
    series = SERIES_BODIES + [
        json.dumps({"series": [{**GOOD_SERIES, f: v}]}).encode() for f, v in SERIES_EDGES
    ]
    return points + series


@pytest.mark.parametrize("body", _route_bodies())
def test_the_route_answers_as_metricsin_decides(
    client: TestClient, session: Session, run_id: int, body: bytes
) -> None:
    expected, errors = _pydantic(body)
    response = client.post(
        f"/api/v1/runs/{run_id}/metrics", content=body, headers={"content-type": "application/json"}
    )
    if expected is None:  # refused: the same fields named
        assert response.status_code == 422, response.text
        assert [tuple(e["loc"]) for e in response.json()["detail"]] == [("body", *loc) for loc in errors]
        return
    finite = [row for row in expected if row[2] - row[2] == 0]
    if len(finite) != len(expected):  # non-finite: refused by the run-status rule, naming the value
        _, locate = MetricsIn.model_validate_json(body).rows()
        first = next(i for i, row in enumerate(expected) if row[2] - row[2] != 0)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", *locate(first)]
        return
    firsts = {(row[0], row[1]): row for row in reversed(expected)}
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": len(firsts)}
    stored = session.execute(
        select(MetricPoint.key, MetricPoint.step, MetricPoint.value, MetricPoint.timestamp).where(
            MetricPoint.run_id == run_id
        )
    ).all()
    assert sorted((k, s, v) for k, s, v, _ in stored) == sorted((k, s, v) for k, s, v, _ in firsts.values())
    sent = {(row[0], row[1]): row[3] for row in firsts.values()}
    for key, step, _, when in stored:
        if sent[key, step] is not None:
            assert as_utc(when) == sent[key, step]
        else:
            assert isinstance(when, datetime)
