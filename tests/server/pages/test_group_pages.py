"""Seed groups on the pages: the run page's "Repeat with 3 seeds" button, the leaderboard's group column."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.tables import Run
from tests.factories import log_points, make_project, make_run
from tests.server.pages.html import attrs_of, csrf_token, table_rows, texts

CONFIG = {"model": {"name": "mlp", "hidden": [64]}, "hparams": {"epochs": 3, "lr": 0.01, "seed": 2}}


def _forms(html: str) -> set[str | None]:
    return {form.get("id") for form in attrs_of(html, "form")}


def test_repeat_button_queues_three_seeds_in_a_group(client: TestClient, session: Session) -> None:
    project = make_project(session)
    run = make_run(session, project, name="base", config=CONFIG)
    token = csrf_token(client)
    assert "repeat-form" in _forms(client.get(f"/runs/{run.id}").text)

    response = client.post(f"/runs/{run.id}/repeat", data={"csrf_token": token}, follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"] == f"/runs/{run.id}"
    children = session.scalars(select(Run).where(Run.parent_id == run.id).order_by(Run.id)).all()
    assert [child.config["hparams"]["seed"] for child in children] == [3, 4, 5]
    assert {child.group for child in children} == {"base seeds"} and {c.status for c in children} == {
        "queued"
    }
    page = client.get(f"/runs/{run.id}").text
    ids = ", ".join(f"#{child.id}" for child in children)
    assert texts(page, "message-success") == [
        f"Queued 3 runs with seeds 3, 4, 5 ({ids}) in group 'base seeds'."
    ]
    assert 'id="run-group">base seeds<' in page


def test_repeat_needs_the_csrf_token(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), config=CONFIG)
    csrf_token(client)

    forged = client.post(f"/runs/{run.id}/repeat", data={"seeds": "3"}, follow_redirects=False)

    assert forged.status_code == 403
    assert session.scalar(select(func.count()).select_from(Run).where(Run.parent_id == run.id)) == 0


def test_leaderboard_shows_each_runs_group_mean_std_and_n(client: TestClient, session: Session) -> None:
    project = make_project(session)
    seeded = [make_run(session, project, name=f"seed {i}", group="wide") for i in range(3)]
    alone = make_run(session, project, name="alone")
    lucky_failure = make_run(session, project, name="failed", group="wide", status="failed")
    pending = make_run(session, project, name="pending", group="new idea", status="queued")
    for run, dev in zip([*seeded, alone, lucky_failure], [0.08, 0.10, 0.12, 0.09, 0.01], strict=True):
        log_points(session, run, {"dev_error": [dev]})
    assert pending.id

    html = client.get(f"/projects/{project.id}").text

    assert table_rows(html, "leaderboard-table") == [
        ["1", "seed 0", "succeeded", "8.00 %", "10.00 % ± 2.00 % (n=3)", "—"],
        ["2", "alone", "succeeded", "9.00 %", "—", "—"],
        ["3", "seed 1", "succeeded", "10.00 %", "10.00 % ± 2.00 % (n=3)", "—"],
        ["4", "seed 2", "succeeded", "12.00 %", "10.00 % ± 2.00 % (n=3)", "—"],
        ["—", "pending", "queued", "—", "no finished run yet", "breaks dev_error was not logged"],
    ]


def test_leaderboard_without_groups_has_no_group_column(client: TestClient, session: Session) -> None:
    project = make_project(session)
    log_points(session, make_run(session, project, name="only"), {"dev_error": [0.1]})
    assert table_rows(client.get(f"/projects/{project.id}").text, "leaderboard-table") == [
        ["1", "only", "succeeded", "10.00 %", "—"]
    ]


def test_run_page_ladder_shows_the_groups_spread(client: TestClient, session: Session) -> None:
    project = make_project(session, human_level_error=0.0)
    runs = [make_run(session, project, config=CONFIG, group="lr 0.01 seeds") for _ in range(3)]
    for run, (train, dev) in zip(runs, [(0.01, 0.04), (0.02, 0.04), (0.0, 0.05)], strict=True):
        log_points(session, run, {"train_error": [train], "dev_error": [dev]})
    make_run(session, project, config=CONFIG, group="lr 0.01 seeds", status="running")  # not counted

    response = client.get(f"/runs/{runs[0].id}")

    assert "over the group's 3 succeeded runs" in response.text
    assert table_rows(response.text, "group-spread-table") == [
        ["train error", "1.00", "1.00", "3"],
        ["dev error", "4.33", "0.58", "3"],
        ["Avoidable bias", "1.00", "1.00", "3"],
        ["Variance", "3.33", "1.53", "3"],
    ]


def test_run_page_without_a_group_has_no_spread(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), config=CONFIG)
    assert 'id="group-spread"' not in client.get(f"/runs/{run.id}").text
