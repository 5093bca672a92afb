"""The projects list, the new-project form and the project page with its runs table."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.tables import Project
from tests.factories import log_points, make_project, make_run
from tests.server.pages.html import csrf_token, table_rows, texts


def test_projects_list_shows_projects_with_names_escaped(client: TestClient, session: Session) -> None:
    make_project(session, name="<script>alert(1)</script>", dataset="wine", human_level_error=0.08)
    make_project(session, name="digits-baseline")

    response = client.get("/")

    assert response.status_code == 200
    rows = table_rows(response.text, "projects")
    assert [row[:4] for row in rows] == [
        ["digits-baseline", "digits", "0", "—"],
        ["<script>alert(1)</script>", "wine", "0", "8.0 %"],
    ]
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_projects_list_offers_catalog_datasets_in_the_form(client: TestClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert 'name="csrf_token"' in response.text
    for dataset in ("digits", "digits-shifted", "breast_cancer", "wine", "external"):
        assert f'<option value="{dataset}"' in response.text
    assert "proxy for Bayes error" in response.text


def test_create_project_redirects_to_its_page_with_a_flash_message(
    client: TestClient, session: Session
) -> None:
    token = csrf_token(client)

    response = client.post(
        "/projects",
        data={"csrf_token": token, "name": "wine-mlp", "dataset": "wine", "human_level_error": "0.5"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    project = session.scalars(select(Project).where(Project.name == "wine-mlp")).one()
    assert response.headers["location"] == f"/projects/{project.id}"
    assert project.human_level_error == pytest.approx(0.005)
    page = client.get(response.headers["location"])
    assert texts(page.text, "message-success") == ["Project 'wine-mlp' created."]
    # The flash is shown once.
    assert texts(client.get(response.headers["location"]).text, "message-success") == []


@pytest.mark.parametrize(
    ("human_level_error", "expected"),
    [
        ("150", "must be between 0 and 100 %, but got 150"),
        ("-1", "must be between 0 and 100 %, but got -1"),
        ("lots", "enter a percentage"),
    ],
)
def test_create_project_with_bad_human_level_error_rerenders_the_form(
    client: TestClient, session: Session, human_level_error: str, expected: str
) -> None:
    token = csrf_token(client)

    response = client.post(
        "/projects",
        data={"csrf_token": token, "name": "p", "dataset": "digits", "human_level_error": human_level_error},
    )

    assert response.status_code == 422
    errors = texts(response.text, "field-error")
    assert len(errors) == 1
    assert "human_level_error" in errors[0] and expected in errors[0]
    assert f'value="{human_level_error}"' in response.text  # what was typed is kept
    assert session.scalars(select(Project)).all() == []


def test_create_project_with_blank_name_or_taken_name_names_the_field(
    client: TestClient, session: Session
) -> None:
    make_project(session, name="taken")
    token = csrf_token(client)

    blank = client.post("/projects", data={"csrf_token": token, "name": "  ", "dataset": "digits"})
    taken = client.post("/projects", data={"csrf_token": token, "name": "taken", "dataset": "digits"})
    unknown = client.post("/projects", data={"csrf_token": token, "name": "x", "dataset": "imagenet"})

    assert blank.status_code == taken.status_code == unknown.status_code == 422
    assert texts(blank.text, "field-error") == ["Name (name): name must not be blank"]
    assert texts(taken.text, "field-error") == ["Name (name): A project named 'taken' already exists"]
    assert "Dataset (dataset): Unknown dataset 'imagenet'" in texts(unknown.text, "field-error")[0]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/projects", {"name": "p", "dataset": "digits"}),
        ("/projects/1", {"human_level_error": "1"}),
        ("/projects/1/runs", {"model": "mlp"}),
        ("/runs/1/cancel", {}),
        ("/logout", {}),
    ],
)
def test_post_without_csrf_token_is_forbidden(
    client: TestClient, session: Session, path: str, data: dict
) -> None:
    project = make_project(session)
    make_run(session, project, status="queued")
    client.get("/")  # the cookie alone is not enough: the form must carry the token

    missing = client.post(path, data=data)
    wrong = client.post(path, data={**data, "csrf_token": "not-the-cookie"})

    assert missing.status_code == wrong.status_code == 403
    assert "security token" in missing.text
    assert "<h1>Forbidden</h1>" in missing.text


def _run_names(html: str) -> list[str]:
    return [row[0] for row in table_rows(html, "runs")]


def test_project_page_sorts_runs_by_dev_error(client: TestClient, session: Session) -> None:
    project = make_project(session, human_level_error=0.01)
    for name, dev_error in (("a", 0.3), ("b", 0.1), ("c", 0.2)):
        log_points(session, make_run(session, project, name=name), {"dev_error": [0.5, dev_error]})
    make_run(session, project, name="no-metrics", status="queued")

    ascending = client.get(f"/projects/{project.id}?sort=dev_error")
    descending = client.get(f"/projects/{project.id}?sort=-dev_error")
    default = client.get(f"/projects/{project.id}")

    assert ascending.status_code == descending.status_code == default.status_code == 200
    assert _run_names(ascending.text) == ["b", "c", "a", "no-metrics"]
    assert _run_names(descending.text) == ["a", "c", "b", "no-metrics"]
    assert _run_names(default.text) == ["no-metrics", "c", "b", "a"]  # newest first
    rows = table_rows(ascending.text, "runs")
    assert rows[0][1:7] == ["succeeded", "", "—", "—", "10.00 %", "—"]
    # The header of the sorted column links to the opposite order.
    assert f'href="/projects/{project.id}?sort=-dev_error"' in ascending.text


def test_project_page_filters_by_status_and_pages(client: TestClient, session: Session) -> None:
    project = make_project(session)
    for i in range(27):
        make_run(session, project, name=f"r{i:02d}", status="failed" if i % 9 == 0 else "succeeded")

    failed = client.get(f"/projects/{project.id}?status=failed")
    first = client.get(f"/projects/{project.id}?sort=name")
    second = client.get(f"/projects/{project.id}?sort=name&offset=25")
    bad = client.get(f"/projects/{project.id}?status=exploded")

    assert _run_names(failed.text) == ["r18", "r09", "r00"]
    assert len(_run_names(first.text)) == 25
    assert f'href="/projects/{project.id}?sort=name&amp;offset=25"' in first.text
    assert _run_names(second.text) == ["r25", "r26"]
    assert "26–27 of 27 runs" in second.text
    assert bad.status_code == 422


def test_project_page_shows_running_progress_and_parent(client: TestClient, session: Session) -> None:
    project = make_project(session)
    parent = make_run(session, project, name="parent")
    make_run(
        session,
        project,
        name="child",
        status="running",
        parent_id=parent.id,
        progress={"epoch": 3, "epochs": 10},
    )

    response = client.get(f"/projects/{project.id}")

    child = table_rows(response.text, "runs")[0]
    assert child[0:3] == ["child", "running", "3/10"]
    assert child[-1] == f"#{parent.id}"
    assert '<progress max="10" value="3">' in response.text
    assert '<script src="/static/project.js" defer></script>' in response.text


def test_update_human_level_error_from_project_page(client: TestClient, session: Session) -> None:
    project = make_project(session)
    token = csrf_token(client)

    ok = client.post(
        f"/projects/{project.id}",
        data={"csrf_token": token, "human_level_error": "2.5", "optimizing_metric": "dev_error"},
    )
    bad = client.post(f"/projects/{project.id}", data={"csrf_token": token, "human_level_error": "200"})

    assert ok.status_code == 200  # followed the redirect
    session.refresh(project)
    assert project.human_level_error == pytest.approx(0.025)
    assert "2.50 %" in ok.text
    assert bad.status_code == 422
    assert "Human-level error (human_level_error)" in texts(bad.text, "field-error")[0]


def test_unknown_project_is_a_404_page(client: TestClient) -> None:
    response = client.get("/projects/9999")

    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Project 9999 not found" in response.text


def test_project_form_edits_metric_aliases(client: TestClient, session: Session) -> None:
    project = make_project(session)
    token = csrf_token(client)
    base = {"csrf_token": token, "human_level_error": "", "optimizing_metric": "dev_error"}
    url = f"/projects/{project.id}"

    ok = client.post(url, data={**base, "metric_aliases": "val_error -> dev_error\n\nval_loss→dev_loss\n"})
    session.expire_all()
    saved = session.get(Project, project.id).metric_aliases
    not_canonical = client.post(url, data={**base, "metric_aliases": "val_error -> dev_erorr"})
    malformed = client.post(url, data={**base, "metric_aliases": "val_error = dev_error"})
    twice = client.post(url, data={**base, "metric_aliases": "a -> dev_error\na -> test_error"})
    client.post(url, data=base)  # a form without the field (an older page) keeps the aliases
    session.expire_all()

    assert ok.status_code == 200  # followed the redirect
    assert saved == {"val_error": "dev_error", "val_loss": "dev_loss"}
    assert "val_error -&gt; dev_error\nval_loss -&gt; dev_loss</textarea>" in ok.text
    assert not_canonical.status_code == malformed.status_code == twice.status_code == 422
    [error] = texts(not_canonical.text, "field-error")
    assert error.startswith(
        "Metric aliases (metric_aliases): val_error -> dev_erorr: the target must be a canonical key, one of "
        "train_error, train_dev_error, dev_error"
    )
    assert texts(malformed.text, "field-error") == [
        "Metric aliases (metric_aliases): line 1: write alias -> canonical key, e.g. val_error -> dev_error, "
        "but got 'val_error = dev_error'"
    ]
    assert texts(twice.text, "field-error") == [
        "Metric aliases (metric_aliases): line 2: a is already an alias of dev_error"
    ]
    assert session.get(Project, project.id).metric_aliases == saved


def test_blanked_textareas_clear_the_aliases_and_the_constraints(
    client: TestClient, session: Session
) -> None:
    project = make_project(
        session, metric_aliases={"a": "dev_error"}, satisficing=[{"metric": "m", "max": 1}]
    )
    form = {"csrf_token": csrf_token(client), "human_level_error": "", "optimizing_metric": "dev_error"}
    page = client.get(f"/projects/{project.id}").text
    assert '<input type="hidden" name="lists_sent" value="true">' in page

    # As a browser sends the page's form with both textareas emptied.
    response = client.post(
        f"/projects/{project.id}",
        data={**form, "lists_sent": "true", "metric_aliases": "", "satisficing": ""},
    )

    assert response.status_code == 200
    session.expire_all()
    cleared = session.get(Project, project.id)
    assert (cleared.metric_aliases, cleared.satisficing) == (None, [])
