"""Routes that serve files (static assets with the vendored Plotly, dataset files, checkpoints, example
images, gradient checks) never read outside their folder: '..', its percent-encodings, absolute paths and
symlinks all get a 4xx, never the file.

httpx (under TestClient) removes '..' segments before sending, as browsers do; an attacker's raw request
does not. So the requests go straight to the ASGI app with the path as uvicorn hands it over: the raw
bytes, and their percent-decoding.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI
from sqlalchemy.orm import Session

import server.app
from server.app import create_app
from server.db import get_session
from tests.factories import make_project, make_run
from trainboard.settings import get_settings

REPO = Path(__file__).resolve().parents[3]
PASSWD = b"root:"  # the start of /etc/passwd


def raw_request(app: FastAPI, raw_path: str, method: str = "GET", body: bytes = b"") -> tuple[int, bytes]:
    """Send `raw_path` byte for byte, as a hand-written HTTP request would reach uvicorn."""
    path, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            await anyio.sleep(3600)  # the request is over: wait for a disconnect that never comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))  # type: ignore[arg-type]

    async def call() -> None:
        await app(scope, receive, send)  # type: ignore[arg-type]

    # In a portal thread, as TestClient does: this thread may already hold an event loop (Playwright's
    # sync API keeps one while the session's browser is open).
    with start_blocking_portal() as portal:
        portal.call(call)
    return status, b"".join(chunks)


def assert_refused(app: FastAPI, raw_path: str, secrets: tuple[bytes, ...], method: str = "GET") -> None:
    status, body = raw_request(app, raw_path, method=method)
    assert 400 <= status < 500, f"{raw_path}: {status}"
    for secret in secrets:
        assert secret not in body, f"{raw_path} served a file from outside its folder"


def traversals(prefix: str, target: str) -> list[str]:
    """`prefix` + each way of spelling "climb out, then read target" in a URL path."""
    climb = "../" * 6
    return [
        f"{prefix}{climb}{target}",
        f"{prefix}{climb.replace('../', '%2e%2e/')}{target}",
        f"{prefix}{climb.replace('../', '%2e%2e%2f')}{target.replace('/', '%2f')}",
        f"{prefix}{climb.replace('../', '..%2f')}{target}",
        f"{prefix}{climb.replace('../', '%2E%2E%2F')}{target}",
        f"{prefix}{climb.replace('../', '..%5c')}{target}",
        f"{prefix}/{target}",
        f"{prefix}%2f{target.replace('/', '%2f')}",
    ]


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, bytes]:
    """A file outside every served folder, with content no served file has."""
    token = f"SECRET-{uuid.uuid4().hex}".encode()
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_bytes(token)
    return path, token


@pytest.fixture
def static_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: tuple[Path, bytes]
) -> Iterator[FastAPI]:
    """The app with its static folders swapped for copies that hold symlinks leading out."""
    static = tmp_path / "static"
    vendor = static / "vendor"  # the vendored Plotly bundle lives in a folder of the static one
    for folder in (static, vendor):
        folder.mkdir()
        (folder / "ok.js").write_text("// fine\n")
        (folder / "link.txt").symlink_to(secret[0])
        (folder / "linked-dir").symlink_to(secret[0].parent, target_is_directory=True)
        (folder / "etc").symlink_to("/etc", target_is_directory=True)
    monkeypatch.setattr(server.app, "STATIC_DIR", static)
    yield create_app(run_reaper=False)


@pytest.mark.parametrize("prefix", ["/static/", "/static/vendor/"])
def test_static_files_stay_in_their_folder(
    static_app: FastAPI, secret: tuple[Path, bytes], prefix: str
) -> None:
    assert raw_request(static_app, f"{prefix}ok.js") == (200, b"// fine\n")
    relative = secret[0].relative_to(secret[0].anchor).as_posix()
    secrets = (secret[1], PASSWD, b"def create_app")
    for raw_path in [
        *traversals(prefix, relative),
        *traversals(prefix, "etc/passwd"),
        f"{prefix}..%2fapp.py",
        f"{prefix}%2e%2e/%2e%2e/server/app.py",
        f"{prefix}link.txt",
        f"{prefix}linked-dir/secret.txt",
        f"{prefix}etc/passwd",
        f"{prefix}{secret[0].as_posix()}",
    ]:
        assert_refused(static_app, raw_path, secrets)


@pytest.fixture
def file_app(session: Session) -> FastAPI:
    application = create_app(run_reaper=False)
    application.dependency_overrides[get_session] = lambda: session
    return application


def test_dataset_files_and_checkpoints_are_served_by_id_only(
    file_app: FastAPI, session: Session, secret: tuple[Path, bytes]
) -> None:
    home = get_settings().resolved_home
    run = make_run(session, make_project(session))
    relative = secret[0].relative_to(secret[0].anchor).as_posix()
    secrets = (secret[1], PASSWD)
    for route in ("/api/v1/datasets/{}/file", "/api/v1/runs/{}/checkpoint"):
        for target in (relative, "etc/passwd"):
            for raw_path in traversals("", target):
                assert_refused(file_app, route.format(raw_path), secrets)
                assert_refused(file_app, route.format(raw_path.replace("/", "%2f")), secrets)
    # A checkpoint upload to a climbing id writes nothing anywhere.
    before = sorted(p for p in home.rglob("*") if p.is_file())
    for raw_path in traversals("", "tmp/planted.pt"):
        status, _ = raw_request(
            file_app, f"/api/v1/runs/{raw_path.replace('/', '%2f')}/checkpoint", method="PUT", body=b"x"
        )
        assert 400 <= status < 500
    assert sorted(p for p in home.rglob("*") if p.is_file()) == before
    assert not Path("/tmp/planted.pt").exists()
    # The real id still works once a checkpoint exists.
    assert raw_request(file_app, f"/api/v1/runs/{run.id}/checkpoint", method="PUT", body=b"weights")[0] == 204
    assert raw_request(file_app, f"/api/v1/runs/{run.id}/checkpoint") == (200, b"weights")


def test_example_images_and_gradient_checks_never_use_ids_as_paths(
    file_app: FastAPI, session: Session, secret: tuple[Path, bytes]
) -> None:
    project = make_project(session, dataset="digits")
    relative = secret[0].relative_to(secret[0].anchor).as_posix()
    secrets = (secret[1], PASSWD)
    routes = (
        f"/api/v1/projects/{project.id}/examples/{{}}/image.png",
        f"/api/v1/projects/{project.id}/examples/{{}}/features",
        "/api/v1/gradcheck/{}",
        "/gradchecks/{}",
    )
    for route in routes:
        for target in (relative, "etc/passwd"):
            for raw_path in traversals("", target):
                assert_refused(file_app, route.format(raw_path.replace("/", "%2f")), secrets)
                assert_refused(file_app, route.format(raw_path), secrets)
    # A real example still draws.
    status, body = raw_request(file_app, f"/api/v1/projects/{project.id}/examples/digits-0/image.png")
    assert (status, body[:8]) == (200, b"\x89PNG\r\n\x1a\n")
