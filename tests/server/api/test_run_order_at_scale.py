"""The runs list and the project leaderboard pick their pages in SQL (index walks, LIMITs): they must give
exactly the order a plain sort of every run gives, on both query shapes and both databases."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.leaderboard import constraint_from_dict, is_maximized, rank_runs
from server.services import leaderboards
from server.services.runs import pages as run_pages
from tests.factories import log_points, make_project, make_run


def _expected_order(values: dict[int, float | None], descending: bool) -> list[int]:
    """Runs with the metric by value (ties: newest first), then the runs without it, newest first."""
    sign = -1 if descending else 1
    logged = sorted((i for i, v in values.items() if v is not None), key=lambda i: (sign * values[i], -i))
    return logged + sorted((i for i, v in values.items() if v is None), reverse=True)


@pytest.mark.parametrize("walk_from", [0, 10**9], ids=["index-walk", "sort-all"])
@pytest.mark.parametrize("sort", ["dev_error", "-dev_error"])
def test_summary_sort_pages_list_every_run_once_in_value_order(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch, walk_from: int, sort: str
) -> None:
    monkeypatch.setattr(run_pages, "WALK_FROM", walk_from)
    project, other = make_project(session), make_project(session)
    rng = np.random.default_rng(3)
    values: dict[int, float | None] = {}
    failed: set[int] = set()
    for i in range(26):
        run = make_run(session, project, status="failed" if i % 5 == 0 else "succeeded")
        if run.status == "failed":
            failed.add(run.id)
        value = None if i % 4 == 0 else float(rng.choice([0.1, 0.2, 0.25, 0.3]))  # ties need the id
        if value is not None:
            log_points(session, run, {"dev_error": [0.9, value], "train_error": [0.05]})
        values[run.id] = value
    log_points(session, make_run(session, other), {"dev_error": [0.0]})  # another project's best run
    expected = _expected_order(values, sort.startswith("-"))
    params: dict[str, object] = {"project_id": project.id, "sort": sort, "limit": 7}

    by_offset = [client.get("/api/v1/runs", params={**params, "offset": o}).json() for o in range(0, 28, 7)]
    assert [run["id"] for page in by_offset for run in page["items"]] == expected
    assert {page["total"] for page in by_offset} == {26}
    by_cursor: list[int] = []
    page = client.get("/api/v1/runs", params=params).json()
    while True:
        by_cursor += [run["id"] for run in page["items"]]
        if page["next_cursor"] is None:
            break
        page = client.get("/api/v1/runs", params={**params, "cursor": page["next_cursor"]}).json()
    assert by_cursor == expected
    # Past the runs with the metric, an offset page holds only runs without it.
    tail = client.get("/api/v1/runs", params={**params, "offset": 24}).json()
    assert [run["id"] for run in tail["items"]] == expected[24:]
    only_failed = client.get("/api/v1/runs", params={**params, "status": "failed"}).json()
    assert [run["id"] for run in only_failed["items"]] == [i for i in expected if i in failed]
    assert by_offset[0]["items"][0]["summary"]["dev_error"] == values[expected[0]]


@pytest.mark.parametrize(
    ("metric", "satisficing"),
    [
        ("dev_error", [{"metric": "latency_ms_b1", "max": 10}]),
        ("accuracy", [{"metric": "latency_ms_b1", "max": 10}, {"metric": "param_count", "min": 1000}]),
        ("dev_error", []),
    ],
)
def test_leaderboard_shows_the_top_of_each_group_as_ranking_every_run_would(
    session: Session, metric: str, satisficing: list[dict[str, object]]
) -> None:
    project = make_project(session, optimizing_metric=metric, satisficing=satisficing)
    rng = np.random.default_rng(11)
    logged: list[tuple[int, dict[str, float]]] = []
    for i in range(30):
        run = make_run(session, project, status="diverged" if i % 7 == 3 else "succeeded")
        series = {
            metric: float(rng.choice([0.1, 0.2, 0.3, 0.4])),
            "latency_ms_b1": float(rng.uniform(2, 15)),
            "param_count": float(rng.choice([500, 5000])),
        }
        series = {k: v for k, v in series.items() if rng.uniform() > 0.15}  # some metrics not logged
        if series:
            log_points(session, run, {k: [v] for k, v in series.items()})
        if run.status == "succeeded":  # failed, diverged and cancelled runs are left off the leaderboard
            logged.append((run.id, series))
    standings = rank_runs(
        logged,
        metric=metric,
        constraints=[constraint_from_dict(c) for c in satisficing],
        maximize=is_maximized(metric),
    )

    board = leaderboards.project_leaderboard(session=session, project_id=project.id, limit=4)

    ranked = [s for s in standings if s.eligible]
    others = [s for s in standings if not s.eligible]
    assert (board.ranked_total, board.others_total) == (len(ranked), len(others))
    shown = [(e.run_id, e.rank, e.value) for e in board.ranked]
    assert shown == [(s.run_id, s.rank, s.value) for s in ranked[:4]]
    assert [(e.run_id, e.broken) for e in board.others] == [(s.run_id, s.broken) for s in others[:4]]
