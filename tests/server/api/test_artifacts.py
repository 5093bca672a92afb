"""A run's artifacts through /api/v1: stored whole with their sha256, listed, downloaded; bad paths and
oversized files refused before anything is kept."""

from __future__ import annotations

import hashlib

import pytest

from server.errors import InvalidInput
from server.services.artifacts import clean_path
from tests.factories import make_project, make_run
from trainboard.settings import get_settings


def test_upload_list_download(client, session) -> None:  # type: ignore[no-untyped-def]
    run = make_run(session, make_project(session))
    weights = bytes(range(256)) * 1000
    stored = client.put(f"/api/v1/runs/{run.id}/artifacts/model/weights.bin", content=weights)
    assert stored.status_code == 201, stored.text
    assert stored.json() == {
        "path": "model/weights.bin",
        "size": 256_000,
        "sha256": hashlib.sha256(weights).hexdigest(),
    }
    client.put(f"/api/v1/runs/{run.id}/artifacts/notes.txt", content=b"first")
    client.put(f"/api/v1/runs/{run.id}/artifacts/notes.txt", content=b"second")  # replaced, not added
    listed = client.get(f"/api/v1/runs/{run.id}/artifacts").json()
    assert [(a["path"], a["size"]) for a in listed] == [("model/weights.bin", 256_000), ("notes.txt", 6)]
    downloaded = client.get(f"/api/v1/runs/{run.id}/artifacts/model/weights.bin")
    assert downloaded.content == weights
    assert downloaded.headers["x-sha256"] == hashlib.sha256(weights).hexdigest()
    assert client.get(f"/api/v1/runs/{run.id}/artifacts/notes.txt").content == b"second"


# Dot segments percent-encoded, as an HTTP client would otherwise resolve them before sending.
@pytest.mark.parametrize("path", ["a/%2E%2E/%2E%2E/secret", "%2E/x", "a//b", "a/%2E/b", "a\\b", "%2E%2E"])
def test_paths_that_could_leave_the_run_are_refused(client, session, path: str) -> None:  # type: ignore[no-untyped-def]
    run = make_run(session, make_project(session))
    answer = client.put(f"/api/v1/runs/{run.id}/artifacts/{path}", content=b"x")
    assert answer.status_code == 422, answer.text
    assert "Artifact path" in str(answer.json()["detail"])
    assert client.get(f"/api/v1/runs/{run.id}/artifacts").json() == []


def test_a_file_over_the_limit_is_refused_and_not_kept(client, session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run = make_run(session, make_project(session))
    monkeypatch.setattr(get_settings(), "max_artifact_mb", 0.001)  # about 1 KB
    answer = client.put(f"/api/v1/runs/{run.id}/artifacts/big.bin", content=b"x" * 5000)
    assert answer.status_code == 413
    assert "TRAINBOARD_MAX_ARTIFACT_MB" in answer.json()["detail"]
    assert client.get(f"/api/v1/runs/{run.id}/artifacts").json() == []
    assert client.get(f"/api/v1/runs/{run.id}/artifacts/big.bin").status_code == 404


def test_unknown_run_and_file(client, session) -> None:  # type: ignore[no-untyped-def]
    run = make_run(session, make_project(session))
    assert client.put("/api/v1/runs/999999/artifacts/a.txt", content=b"x").status_code == 404
    missing = client.get(f"/api/v1/runs/{run.id}/artifacts/nothing.txt")
    assert missing.status_code == 404
    assert "nothing.txt" in missing.json()["detail"]


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../b", "a/./b", "", "a/", "a\x00b", "a/" + "x" * 201]
)
def test_clean_path_refuses_what_could_escape(path: str) -> None:
    with pytest.raises(InvalidInput):
        clean_path(path)
    assert clean_path("plots/loss.png") == "plots/loss.png"
