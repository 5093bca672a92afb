"""The project page's runs table: a filter expression (a bad one says where it broke, as a 422 page), a
name search, picked columns remembered per project, seed groups as one row with mean ± std, and bulk
tag/archive/restore of the ticked runs."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.tables import Project, Run, RunSummary
from tests.factories import make_project, make_run
from tests.server.pages.html import csrf_token, table_rows, texts


def run_with(
    session: Session, project: Project, name: str, metrics: dict[str, float], **fields: object
) -> Run:
    run = make_run(session, project, name=name, **fields)
    for key, value in metrics.items():
        session.add(RunSummary(run_id=run.id, key=key, step=1, value=value))
    session.commit()
    return run


def names(html: str) -> list[str]:
    return [row[0].split()[0] for row in table_rows(html, "runs")]


def test_the_filter_box_and_name_search_narrow_the_table(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    run_with(session, project, "small-lr", {"dev_error": 0.04}, params={"lr": 0.001}, tags=["baseline"])
    run_with(session, project, "big-lr", {"dev_error": 0.03}, params={"lr": 0.1}, tags=["baseline"])
    run_with(session, project, "other", {"dev_error": 0.01}, params={"lr": 0.001})
    q = 'params.lr < 0.01 and metrics.dev_error < 0.05 and tags contains "baseline"'
    page = client.get(f"/projects/{project.id}", params={"q": q})
    assert page.status_code == 200
    assert names(page.text) == ["small-lr"]
    assert names(client.get(f"/projects/{project.id}", params={"search": "LR"}).text) == [
        "big-lr",
        "small-lr",
    ]
    # Sorting keeps the filter.
    assert "q=params.lr" in page.text.split('id="runs"')[1].split("</thead>")[0]


def test_a_malformed_filter_is_a_422_page_that_says_where(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    run_with(session, project, "a", {})
    page = client.get(f"/projects/{project.id}", params={"q": "metrics.dev_error <"})
    assert page.status_code == 422
    [message] = texts(page.text, "field-error")
    assert "position 19" in message
    assert 'value="metrics.dev_error &lt;"' in page.text  # kept in the box to fix


def test_picked_columns_show_params_and_metrics_and_are_remembered(
    client: TestClient, session: Session
) -> None:
    project = make_project(session, dataset="external")
    run_with(session, project, "r", {"val/f1": 0.875, "dev_error": 0.1}, params={"opt": "adam"})
    picked = client.get(f"/projects/{project.id}", params={"col": ["params.opt", "metrics.val/f1"]})
    [row] = table_rows(picked.text, "runs")
    assert row[7:9] == ["adam", "0.875"]  # after the fixed error columns
    # The next visit without columns in the URL shows the same ones (a cookie for this project).
    [again] = table_rows(client.get(f"/projects/{project.id}").text, "runs")
    assert again[7:9] == ["adam", "0.875"]
    cleared = client.get(f"/projects/{project.id}", params={"cols_sent": "true"})
    assert len(table_rows(cleared.text, "runs")[0]) == len(row) - 2
    other = make_project(session, dataset="external")
    run_with(session, other, "o", {})
    assert 'data-picked="params.opt"' not in client.get(f"/projects/{other.id}").text


def test_a_seed_group_is_one_row_with_mean_and_std_that_expands(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    for name, error in (("s1", 0.10), ("s2", 0.12), ("s3", 0.14)):
        run_with(session, project, name, {"dev_error": error}, group="lr-0.01")
    run_with(session, project, "alone", {"dev_error": 0.2})
    html = client.get(f"/projects/{project.id}").text
    assert 'data-group-row="lr-0.01"' in html
    cell = html.split('data-group-metric="dev_error">')[1].split("<")[0]
    assert cell == "12.00 ± 2.00 %"  # mean and sample std of 10, 12, 14 %
    assert html.count('class="group-member" data-group="lr-0.01" hidden') == 3


def test_bulk_tag_archive_and_restore_the_ticked_runs(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    a, b, c = (run_with(session, project, n, {}) for n in ("a", "b", "c"))
    token = csrf_token(client)
    url = f"/projects/{project.id}/runs/bulk"
    tagged = client.post(
        url, data={"csrf_token": token, "action": "tag", "tag": "keep", "run_ids": [a.id, b.id]}
    )
    assert "Tagged 2 runs" in tagged.text
    session.expire_all()
    assert (a.tags, b.tags, c.tags) == (["keep"], ["keep"], [])
    client.post(url, data={"csrf_token": token, "action": "archive", "run_ids": [a.id, c.id]})
    assert names(client.get(f"/projects/{project.id}").text) == ["b"]
    assert names(client.get(f"/projects/{project.id}", params={"archived": "true"}).text) == ["c", "a"]
    client.post(url, data={"csrf_token": token, "action": "restore", "run_ids": [c.id]})
    assert names(client.get(f"/projects/{project.id}").text) == ["c", "b"]
    refused = client.post(url, data={"action": "archive", "run_ids": [b.id]})
    assert refused.status_code == 403  # no CSRF token
