"""The error-analysis pages: the table of mistakes with its filters, the counts, and run comparison."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.tables import Project
from tests.factories import log_predictions, make_project, make_run
from tests.server.pages.html import attrs_of, csrf_token, table_rows, table_values, texts

ROWS = [
    ("digits-1", 1, 7, 0.95),
    ("digits-2", 2, 2, 0.8),
    ("digits-3", 3, 8, 0.6),
    ("digits-7", 7, 1, 0.55),
]


def _setup(session: Session, client: TestClient) -> tuple[Project, int]:
    project = make_project(session, dataset="digits")
    run = make_run(session, project)
    log_predictions(session, run, ROWS)
    client.post(
        f"/api/v1/projects/{project.id}/examples/tags", json={"example_ids": ["digits-3"], "add": ["blurry"]}
    )
    return project, run.id


def test_errors_page_lists_mistakes_with_images_and_counts(client: TestClient, session: Session) -> None:
    project, run_id = _setup(session, client)
    response = client.get(f"/runs/{run_id}/errors?split=dev")
    assert response.status_code == 200
    rows = table_rows(response.text, "errors")
    assert [r[1:7] for r in rows] == [
        ["digits-1", "1", "7", "95.0 %", "—", ""],
        ["digits-3", "3", "8", "60.0 %", "—", "blurry"],
        ["digits-7", "7", "1", "55.0 %", "—", ""],
    ]
    images = [a["src"] for a in attrs_of(response.text, "img") if "examples" in (a.get("src") or "")]
    assert images[0] == f"/api/v1/projects/{project.id}/examples/digits-1/image.png"
    assert table_rows(response.text, "tag-counts") == [
        ["blurry", "1", "33.3 %", "25.00 %", "100.0 %", "75.00 %"],
        ["untagged", "2", "66.7 %", "50.00 %", "—", "—"],
    ]
    assert "estimated from 1 reviewed error (of 3)" in " ".join(texts(response.text, "small"))
    assert "dev and test" in response.text  # the corrections card says why both splits change together


SHARES = ("count", "fraction_of_errors", "max_error_reduction", "fraction_of_reviewed",
          "max_error_reduction_reviewed")  # fmt: skip


def test_counts_table_shows_the_api_numbers_on_the_page_and_after_tagging(
    client: TestClient, session: Session
) -> None:
    project, run_id = _setup(session, client)
    client.post(
        f"/api/v1/projects/{project.id}/examples/tags",
        json={"example_ids": ["digits-7"], "add": ["reviewed"]},
    )
    api = client.get(f"/api/v1/runs/{run_id}/error-analysis?split=dev").json()
    # Rows the API names: each tag, the reviewed errors in no category, then the unreviewed ones.
    expected = [[row[k] for k in SHARES] for row in [*api["by_tag"], api["other"], api["untagged"]]]
    page = client.get(f"/runs/{run_id}/errors?split=dev").text
    fragment = client.get(f"/runs/{run_id}/errors/counts?split=dev")
    assert fragment.status_code == 200
    for html in (page, fragment.text):
        shown = [[None if v == "" else float(v) for v in row[1:]] for row in table_values(html, "tag-counts")]
        assert shown == expected
        assert [r[0] for r in table_rows(html, "tag-counts")] == ["blurry", "reviewed, no tag", "untagged"]
    assert table_rows(fragment.text, "tag-counts") == table_rows(page, "tag-counts")
    assert "estimated from 2 reviewed errors (of 3)" in fragment.text


def test_errors_page_filters_by_label_and_tag(client: TestClient, session: Session) -> None:
    _, run_id = _setup(session, client)
    by_label = table_rows(client.get(f"/runs/{run_id}/errors?label=7&predicted=1").text, "errors")
    assert [r[1] for r in by_label] == ["digits-7"]
    by_tag = table_rows(client.get(f"/runs/{run_id}/errors?tag=blurry").text, "errors")
    assert [r[1] for r in by_tag] == ["digits-3"]
    untagged = table_rows(client.get(f"/runs/{run_id}/errors?untagged=1&sort=confidence").text, "errors")
    assert [r[1] for r in untagged] == ["digits-7", "digits-1"]
    assert "No misclassified examples match" in client.get(f"/runs/{run_id}/errors?min_confidence=0.99").text


def test_run_page_links_to_error_analysis(client: TestClient, session: Session) -> None:
    _, run_id = _setup(session, client)
    links = [a.get("href") for a in attrs_of(client.get(f"/runs/{run_id}").text, "a")]
    assert f"/runs/{run_id}/errors?split=dev" in links


def test_compare_page_shows_each_group(client: TestClient, session: Session) -> None:
    project, run_id = _setup(session, client)
    other = make_run(session, project)
    log_predictions(
        session, other, [("digits-1", 1, 1, 0.9), ("digits-3", 3, 5, 0.8), ("digits-2", 2, 6, 0.7)]
    )
    html = client.get(f"/runs/{run_id}/errors/compare?other={other.id}&group=still_wrong").text
    assert [r[:4] for r in table_rows(html, "compared")] == [["digits-3", "3", "8", "5"]]
    assert texts(html, "group-tab") == ["1 Fixed", "1 Newly broken", "1 Still wrong"]


def test_apply_corrections_form_needs_csrf_and_bumps_the_version(
    client: TestClient, session: Session
) -> None:
    project, run_id = _setup(session, client)
    client.put(f"/api/v1/projects/{project.id}/label-corrections/digits-1", json={"corrected_label": 7})
    url = f"/projects/{project.id}/label-corrections/apply"
    assert client.post(url, data={"back": "/"}).status_code == 403
    response = client.post(
        url, data={"csrf_token": csrf_token(client), "back": f"/runs/{run_id}/errors"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == f"/runs/{run_id}/errors"
    session.refresh(project)
    assert project.dataset_version == 2
    # The row says what became of its "mislabeled" tag.
    rows = table_rows(client.get(f"/runs/{run_id}/errors").text, "errors")
    assert [(r[1], r[6], r[7]) for r in rows if r[1] == "digits-1"] == [
        ("digits-1", "reviewed", "mislabeled → 7 (v2)")
    ]


def test_errors_page_of_unknown_run_is_404(client: TestClient) -> None:
    assert client.get("/runs/999999/errors").status_code == 404


def _uploaded_reviews(session: Session) -> Project:
    from server.tables import Dataset

    dataset = Dataset(
        name="reviews", source="csv", kind="tabular", input_shape=[4], n_classes=2, n_examples=40,
        classes=["neg", "pos"], size_bytes=100, sha256="0" * 64,
    )  # fmt: skip
    session.add(dataset)
    session.commit()
    return make_project(session, name="sentiment", dataset=str(dataset.id))


def test_a_csv_datasets_class_names_show_instead_of_indices(client: TestClient, session: Session) -> None:
    project = _uploaded_reviews(session)
    run, other = make_run(session, project), make_run(session, project)
    log_predictions(session, run, [("r-1", 0, 1, 0.9), ("r-2", 1, 0, 0.7), ("r-3", 1, 1, 0.8)])
    log_predictions(session, other, [("r-1", 0, 0, 0.9), ("r-2", 1, 0, 0.6), ("r-3", 1, 0, 0.6)])

    page = client.get(f"/runs/{run.id}/errors?split=dev").text
    assert [r[2:4] for r in table_rows(page, "errors")] == [["neg", "pos"], ["pos", "neg"]]
    assert 'title="class 1">pos<' in page  # the index stays a hover away
    compared = client.get(f"/runs/{run.id}/errors/compare?other={other.id}&group=fixed").text
    assert [r[1:4] for r in table_rows(compared, "compared")] == [["neg", "pos", "neg"]]
    listing = client.get("/").text
    assert [r[1] for r in table_rows(listing, "projects") if r[0] == "sentiment"] == ["reviews"]


def test_built_in_class_names_show_on_the_errors_page(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="breast_cancer")
    run = make_run(session, project)
    log_predictions(session, run, [("bc-1", 0, 1, 0.9)])
    page = client.get(f"/runs/{run.id}/errors?split=dev").text
    assert [r[2:4] for r in table_rows(page, "errors")] == [["malignant", "benign"]]
