"""The run list's JSON, built straight from the rows, says what the validated RunsPage would say."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.schemas import RunRead, RunsPage
from server.services import runs
from server.services.runs import pages as run_pages
from server.tables import Project, Run, RunSummary, Sweep
from tests.factories import make_project, make_run


def _runs_of_every_kind(session: Session, project: Project) -> list[Run]:
    """Runs with and without summaries, params, progress and error; external, sweep and child runs; a run
    in a seed group; a run with tags, notes and its environment."""
    sweep = Sweep(project_id=project.id, name="sweep", trials=4)
    session.add(sweep)
    session.commit()
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    made = [
        make_run(session, project, status="queued", params={}, created_at=start),
        make_run(
            session,
            project,
            status="running",
            external=True,
            config={"note": 'ünïcode "quoted" \\ and\nnewline', "big": 2**62, "nested": {"a": [1, 2.5]}},
            params={"lr": 0.001, "batch_size": 64, "optimizer": "adam", "tags": ["a", "b"], "none": None},
            progress={"epoch": 2, "step": 40, "loss": 0.25},
            worker="worker-1",
            attempt=1,
            started_at=start + timedelta(seconds=1),
            heartbeat_at=start + timedelta(seconds=2, microseconds=500),
            created_at=start + timedelta(microseconds=123456),
            tags=["baseline", 'ünï "q"'],
            notes='Dev error plateaued.\n"Try" \\ more data ☃',
            environment={"git_commit": "abc123", "git_dirty": True, "argv": ["train.py", "--lr=1e-3"]},
        ),
        make_run(
            session,
            project,
            status="failed",
            error="CUDA out of memory",
            attempt=2,
            started_at=start,
            finished_at=start + timedelta(minutes=5),
            params={"lr": 1e-05},
        ),
        make_run(
            session,
            project,
            status="cancelled",
            sweep_id=sweep.id,
            stopped_early=True,
            params={"lr": 0.1, "l2": 0.0},
            finished_at=start + timedelta(hours=1),
        ),
    ]
    made.append(make_run(session, project, parent_id=made[2].id, name="child ☃", group='seeds "☃" \\ 1'))
    summaries = {0: {}, 1: {"dev_error": 0.3, "loss": 1.5}, 2: {"dev_error": 0.1}, 3: {"dev_error": 0.1}}
    for index, values in summaries.items():
        for key, value in values.items():
            session.add(RunSummary(run_id=made[index].id, key=key, step=7, value=value))
    session.add(RunSummary(run_id=made[4].id, key="dev_error", step=1, value=1 / 3))
    session.commit()
    return made


def _pages(session: Session, **query: Any) -> tuple[Any, Any, str]:
    """The fast page and the validated reference, decoded, and the fast page as sent."""
    fast = runs.list_runs_json(session=session, **query).decode()
    slow = runs.list_runs(session=session, **query)
    # The reference: every run validated from its ORM object, as GET /runs/{id} returns it.
    items = [RunRead.model_validate(runs.to_read(session.get(Run, item.id))) for item in slow.items]
    reference = RunsPage(**{**slow.model_dump(exclude={"items"}), "items": items}).model_dump_json()
    return json.loads(fast), json.loads(reference), fast


def _walk_by_cursor(session: Session, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of ``query`` by next_cursor, each held equal to the validated page; their items."""
    cursor, items = None, []
    while True:
        fast, reference, _ = _pages(session, **query, cursor=cursor)
        assert fast == reference
        items += fast["items"]
        cursor = fast["next_cursor"]
        if cursor is None:
            return items


QUERY = {"status": None, "offset": 0, "limit": 50}


@pytest.mark.parametrize("sort", ["dev_error", "-dev_error", "-id", "name", "finished_at", "-started_at"])
def test_fast_json_equals_validated_page(session: Session, sort: str) -> None:
    project = make_project(session)
    made = _runs_of_every_kind(session, project)
    fast, reference, _ = _pages(session, **{**QUERY, "project_id": project.id, "sort": sort})
    assert fast == reference
    assert fast["total"] == len(made) and len(fast["items"]) == len(made)
    # Same keys in the same order, and the same JSON types (an int stays an int, a float a float).
    for ours, theirs in zip(fast["items"], reference["items"], strict=True):
        assert list(ours) == list(theirs)
        for key in ours:
            assert type(ours[key]) is type(theirs[key]), key
    assert "child ☃" in {item["name"] for item in fast["items"]}


def test_fast_json_pages_by_cursor_and_status_like_the_validated_page(session: Session) -> None:
    project = make_project(session)
    _runs_of_every_kind(session, project)
    make_run(session, make_project(session))  # another project's run stays out
    query = {**QUERY, "project_id": project.id, "sort": "dev_error", "limit": 2}
    seen = [item["id"] for item in _walk_by_cursor(session, query)]
    assert len(seen) == len(set(seen)) == 5
    fast, reference, _ = _pages(
        session, **{**QUERY, "project_id": None, "sort": "-id", "status": "succeeded"}
    )
    assert fast == reference and fast["total"] == 2


def _runs_with_ties_and_gaps(session: Session, project: Project) -> None:
    """13 runs: some with tied dev errors, some without a dev error, some never started."""
    start = datetime(2026, 1, 2, tzinfo=UTC)
    for i in range(13):
        run = make_run(
            session,
            project,
            name=f"r{i % 5}",
            started_at=start + timedelta(minutes=i % 4) if i % 3 else None,
        )
        if i % 4:
            session.add(RunSummary(run_id=run.id, key="dev_error", step=1, value=(i % 3) / 10))
            session.add(RunSummary(run_id=run.id, key="train_error", step=1, value=(i % 5) / 20))
    session.commit()


@pytest.mark.parametrize(
    "sort", ["dev_error", "-dev_error", "-id", "id", "name", "-started_at", "started_at", "variance"]
)
def test_every_page_by_cursor_and_by_offset_equals_the_validated_page(session: Session, sort: str) -> None:
    """Full pages, short last pages, ties, runs without the metric, NULL sort values and a gap sort."""
    project = make_project(session)
    _runs_with_ties_and_gaps(session, project)
    query = {**QUERY, "project_id": project.id, "sort": sort, "limit": 3}
    by_cursor = [item["id"] for item in _walk_by_cursor(session, query)]
    by_offset = []
    for offset in range(0, 15, 3):
        fast, reference, _ = _pages(session, **{**query, "offset": offset})
        assert fast == reference and fast["total"] == 13
        by_offset += [item["id"] for item in fast["items"]]
    assert by_cursor == by_offset and len(set(by_cursor)) == 13


def test_a_visible_projects_subquery_limits_every_page(session: Session) -> None:
    """A caller who sees some projects only (statements built per request, not kept) pages through
    their runs alone, and the kept statements of the unrestricted list still show everyone's."""
    mine, theirs = make_project(session), make_project(session)
    _runs_with_ties_and_gaps(session, mine)
    _runs_with_ties_and_gaps(session, theirs)
    visible = select(Project.id).where(Project.id == mine.id)
    for sort in ("dev_error", "-id", "variance"):
        query = {**QUERY, "project_id": None, "sort": sort, "limit": 4, "visible": visible}
        seen = [(item["project_id"], item["id"]) for item in _walk_by_cursor(session, query)]
        assert {project for project, _ in seen} == {mine.id} and len(set(seen)) == 13
        assert _pages(session, **query)[0]["total"] == 13
        everyone, _, _ = _pages(session, **{**query, "visible": None, "limit": 50})
        assert everyone["total"] == 26 and len(everyone["items"]) == 26


def test_the_statements_kept_stay_few_whatever_the_sort_text(session: Session) -> None:
    """Statements are kept per shape; a sort written with any number of dashes is the same shape, so a
    caller cannot make the server keep one statement per request."""
    project = make_project(session)
    _runs_with_ties_and_gaps(session, project)
    for sort in ("-name", "dev_error", "-dev_error"):  # the shapes this test uses, kept before counting
        runs.list_runs_json(session=session, **{**QUERY, "project_id": project.id, "sort": sort})
    kept = len(run_pages._STATEMENTS)
    pages = set()
    for dashes in range(1, 40):
        for key in ("name", "dev_error", "some_metric"):
            query = {**QUERY, "project_id": project.id, "sort": "-" * dashes + key}
            pages.add(runs.list_runs_json(session=session, **query))
    assert len(run_pages._STATEMENTS) <= kept + 1  # "some_metric": a parameter, at most one new shape
    assert len(pages) == 3


def test_empty_page(session: Session) -> None:
    project = make_project(session)
    fast, reference, _ = _pages(session, **{**QUERY, "project_id": project.id, "sort": "-id"})
    assert fast == reference == {"total": 0, "limit": 50, "offset": 0, "items": [], "next_cursor": None}


def test_non_finite_values_come_back_as_null_like_the_validated_page(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL's json type refuses NaN, so no such run can be stored there")
    project = make_project(session)
    run = make_run(session, project, params={"lr": math.nan, "name": "NaN-ish", "cap": math.inf})
    session.add(RunSummary(run_id=run.id, key="dev_error", step=1, value=math.inf))  # SQLite keeps no NaN
    session.commit()
    fast, reference, raw = _pages(session, **{**QUERY, "project_id": project.id, "sort": "dev_error"})
    json.loads(raw, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert fast == reference
    assert fast["items"][0]["params"] == {"lr": None, "name": "NaN-ish", "cap": None}
    assert fast["items"][0]["summary"] == {"dev_error": None}


def test_non_finite_summaries_come_back_as_null_like_the_validated_page(session: Session) -> None:
    """PostgreSQL builds the summaries' JSON itself, where a float NaN would come out as the string "NaN"."""
    project = make_project(session)
    run = make_run(session, project)
    values = {"a_nan": math.nan, "b_inf": math.inf, "c_neg": -math.inf, "d_tiny": 1e-300, "e_half": 0.5}
    if session.get_bind().dialect.name == "sqlite":
        del values["a_nan"]  # SQLite stores NaN as NULL, which the column refuses
    session.add_all(RunSummary(run_id=run.id, key=k, step=1, value=v) for k, v in values.items())
    session.commit()
    fast, reference, raw = _pages(session, **{**QUERY, "project_id": project.id, "sort": "-id"})
    json.loads(raw, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert fast == reference
    summary = fast["items"][0]["summary"]
    assert list(summary) == sorted(values)
    assert summary == {k: v if math.isfinite(v) else None for k, v in values.items()}


def test_api_run_list_serves_the_same_page(client: TestClient, session: Session) -> None:
    project = make_project(session)
    _runs_of_every_kind(session, project)
    response = client.get("/api/v1/runs", params={"project_id": project.id, "sort": "-dev_error"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    _, reference, _ = _pages(session, **{**QUERY, "project_id": project.id, "sort": "-dev_error"})
    assert response.json() == reference
