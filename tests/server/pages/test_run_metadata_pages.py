"""The run page shows a run's tags, notes and environment and edits the notes and tags; the compare page
lists environment rows beside the config rows."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.tables import Run
from tests.factories import make_project, make_run
from tests.server.pages.html import csrf_token, table_rows, texts

ENVIRONMENT = {
    "platform": "Linux-6.1-x86_64",
    "argv": ["train.py", "--note", "two words"],
    "git_dirty": True,
    "git_commit": "0123456789abcdef",
    "python": "3.11.9",
    "torch": "2.13.0",
    "host": "gpu-box",
}


def test_run_page_shows_tags_notes_and_environment(client: TestClient, session: Session) -> None:
    project = make_project(session, dataset="external")
    run = make_run(
        session,
        project,
        external=True,
        config={},
        tags=["baseline", "<b>bold</b>"],
        notes="Dev error plateaued.\n<script>alert(1)</script>",
        environment=ENVIRONMENT,
    )

    response = client.get(f"/runs/{run.id}")

    assert response.status_code == 200
    assert texts(response.text, "tag")[:2] == ["baseline", "<b>bold</b>"]
    assert texts(response.text, "notes-text") == ["Dev error plateaued. <script>alert(1)</script>"]
    assert "<script>alert(1)" not in response.text and "<b>bold</b>" not in response.text
    assert table_rows(response.text, "environment") == [
        ["git_commit", "0123456789abcdef"],
        ["git_dirty", "yes"],
        ["argv", "train.py --note 'two words'"],
        ["torch", "2.13.0"],
        ["python", "3.11.9"],
        ["host", "gpu-box"],
        ["platform", "Linux-6.1-x86_64"],
    ]


def test_a_run_without_environment_says_so(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), status="queued")

    response = client.get(f"/runs/{run.id}")

    assert "Not recorded yet: the worker that trains this run records it when it starts" in response.text
    assert 'id="environment"' not in response.text


def test_notes_and_tags_are_edited_from_the_run_page(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), tags=["old"])
    token = csrf_token(client)

    saved = client.post(
        f"/runs/{run.id}/notes", data={"csrf_token": token, "notes": "Try more data.", "tags": " a, b ,, a "}
    )

    assert saved.status_code == 200  # followed the redirect
    assert texts(saved.text, "message-success") == ["Name, notes and tags saved."]
    session.refresh(run)
    assert (run.notes, run.tags) == ("Try more data.", ["a", "b"])


def test_a_refused_tag_re_renders_the_form_naming_the_field(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), tags=["kept"], notes="kept")
    token = csrf_token(client)

    refused = client.post(
        f"/runs/{run.id}/notes", data={"csrf_token": token, "notes": "typed", "tags": "ok, " + "x" * 101}
    )

    assert refused.status_code == 422
    assert texts(refused.text, "field-error") == ["Tags (tags): String should have at most 100 characters"]
    assert 'id="notes-input" name="notes" rows="4" maxlength="10000">typed</textarea>' in refused.text
    session.refresh(run)
    assert (run.notes, run.tags) == ("kept", ["kept"])


def test_the_notes_form_needs_the_csrf_token(client: TestClient, session: Session) -> None:
    run = make_run(session, make_project(session), notes="kept")

    response = client.post(f"/runs/{run.id}/notes", data={"notes": "forged", "tags": ""})

    assert response.status_code == 403
    session.refresh(run)
    assert run.notes == "kept"


def test_compare_lists_environment_rows_beside_the_config(client: TestClient, session: Session) -> None:
    project = make_project(session)
    runs: list[Run] = [
        make_run(session, project, environment={**ENVIRONMENT, "git_commit": commit, "git_dirty": dirty})
        for commit, dirty in (("aaa111", False), ("bbb222", True))
    ]

    response = client.get("/compare", params={"runs": f"{runs[0].id},{runs[1].id}"})

    assert response.status_code == 200
    differing = table_rows(response.text, "config-compare")
    assert ["environment.git_commit", "aaa111", "bbb222"] in differing
    assert ["environment.git_dirty", "no", "yes"] in differing
    same = table_rows(response.text, "config-same")
    assert ["environment.argv", "train.py --note 'two words'"] in same
    assert ["hparams.lr", "0.01"] in same


def test_a_run_is_renamed_from_the_run_page_and_a_blank_name_is_refused(
    client: TestClient, session: Session
) -> None:
    run = make_run(session, make_project(session), name="old name")
    token = csrf_token(client)
    form = {"csrf_token": token, "name": " new name ", "notes": ""}
    saved = client.post(f"/runs/{run.id}/notes", data=form)
    assert saved.status_code == 200
    session.refresh(run)
    assert run.name == "new name"
    refused = client.post(f"/runs/{run.id}/notes", data={"csrf_token": token, "name": "  ", "notes": ""})
    assert refused.status_code == 422 and "Name" in refused.text
    session.refresh(run)
    assert run.name == "new name"


def test_archive_and_restore_from_the_run_page(client: TestClient, session: Session) -> None:
    project = make_project(session)
    run = make_run(session, project, name="to archive")
    token = csrf_token(client)
    archived = client.post(f"/runs/{run.id}/archive", data={"csrf_token": token})
    assert archived.status_code == 200
    assert 'id="run-archived"' in archived.text and ">Restore<" in archived.text
    assert "to archive" not in client.get(f"/projects/{project.id}").text
    restored = client.post(f"/runs/{run.id}/restore", data={"csrf_token": token})
    assert 'id="run-archived"' not in restored.text
    assert "to archive" in client.get(f"/projects/{project.id}").text


def test_the_run_page_lists_artifacts_with_size_sha256_and_a_download_link(
    client: TestClient, session: Session
) -> None:
    run = make_run(session, make_project(session))
    assert "No artifacts." in client.get(f"/runs/{run.id}").text
    stored = client.put(f"/api/v1/runs/{run.id}/artifacts/model/best.pt", content=b"x" * 2048)
    assert stored.status_code == 201
    page = client.get(f"/runs/{run.id}").text
    [row] = table_rows(page, "artifacts-table")
    assert row[:2] == ["model/best.pt", "2.0 KiB"]
    assert f'href="/api/v1/runs/{run.id}/artifacts/model/best.pt"' in page
    assert client.get(f"/api/v1/runs/{run.id}/artifacts/model/best.pt").content == b"x" * 2048
