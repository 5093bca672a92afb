"""Login with the API token when auth is enabled; no login at all when it is not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from server import auth
from tests.server.pages.html import texts
from trainboard.settings import get_settings

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def token_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRAINBOARD_API_TOKEN", TOKEN)
    get_settings.cache_clear()
    auth._expected_token_hash.cache_clear()
    yield
    monkeypatch.delenv("TRAINBOARD_API_TOKEN")
    get_settings.cache_clear()
    auth._expected_token_hash.cache_clear()


def test_pages_need_no_login_when_auth_is_off(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    login = client.get("/login?next=/projects/1", follow_redirects=False)
    assert (login.status_code, login.headers["location"]) == (303, "/projects/1")


@pytest.mark.usefixtures("token_auth")
def test_pages_redirect_to_login_and_the_token_logs_in(client: TestClient) -> None:
    redirected = client.get("/projects/1?sort=name", follow_redirects=False)
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/login?next=%2Fprojects%2F1%3Fsort%3Dname"

    form = client.get("/login?next=/")
    assert form.status_code == 200
    token = client.cookies.get("tb_csrf")
    wrong = client.post("/login", data={"csrf_token": token, "token": "nope", "next": "/"})
    assert wrong.status_code == 401
    assert "API token (token): that token is not valid" in texts(wrong.text, "field-error")[0]

    ok = client.post(
        "/login",
        data={"csrf_token": token, "token": TOKEN, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert (ok.status_code, ok.headers["location"]) == (303, "/")  # off-site "next" is ignored
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith("tb_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/").status_code == 200
    # The session cookie also opens the API the pages' JavaScript polls.
    assert client.get("/api/v1/projects").status_code == 200

    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.headers["location"] == "/login"
    client.cookies.delete("tb_session")
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.usefixtures("token_auth")
def test_bearer_token_also_opens_pages(client: TestClient) -> None:
    response = client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
