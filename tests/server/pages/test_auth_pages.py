"""Login with a username and password when auth is enabled; no login at all when it is not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server import auth
from server.services import accounts
from server.throttle import FailureWindow, LoginThrottle
from tests.server.accounts import PASSWORD, make_user, token_for
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
def test_pages_redirect_to_login_and_a_password_logs_in(client: TestClient, session: Session) -> None:
    make_user(session, "alice")
    redirected = client.get("/projects/1?sort=name", follow_redirects=False)
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/login?next=%2Fprojects%2F1%3Fsort%3Dname"

    form = client.get("/login?next=/")
    assert form.status_code == 200
    token = client.cookies.get("tb_csrf")
    wrong = client.post(
        "/login", data={"csrf_token": token, "username": "alice", "password": "nope", "next": "/"}
    )
    assert wrong.status_code == 401
    assert (
        "Password (password): that username and password do not match" in texts(wrong.text, "field-error")[0]
    )
    no_csrf = client.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/"})
    assert no_csrf.status_code == 403

    ok = client.post(
        "/login",
        data={"csrf_token": token, "username": "alice", "password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert (ok.status_code, ok.headers["location"]) == (303, "/")  # off-site "next" is ignored
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith("tb_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert client.get("/").status_code == 200
    # The session cookie also opens the API the pages' JavaScript polls.
    assert client.get("/api/v1/projects").status_code == 200

    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.headers["location"] == "/login"
    client.cookies.delete("tb_session")
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.usefixtures("token_auth")
def test_session_cookie_is_secure_over_https(app: FastAPI, session: Session) -> None:
    make_user(session, "alice")
    with TestClient(app, base_url="https://testserver") as secure:
        secure.get("/login")
        data = {"csrf_token": secure.cookies.get("tb_csrf"), "username": "alice", "password": PASSWORD}
        ok = secure.post("/login", data=data, follow_redirects=False)
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith("tb_session="))
    assert "Secure" in cookie


@pytest.mark.usefixtures("token_auth")
def test_a_forged_session_cookie_is_refused(client: TestClient, session: Session) -> None:
    alice = make_user(session, "alice")
    client.cookies.set("tb_session", f"{alice.id}.9999999999.{'0' * 64}")
    assert client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.usefixtures("token_auth")
def test_a_users_bearer_token_also_opens_pages_but_a_workers_does_not(
    client: TestClient, session: Session
) -> None:
    token = token_for(session, make_user(session, "alice"))
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # TRAINBOARD_API_TOKEN is a worker token: it trains runs, and has no business on the pages.
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403


def _attempt(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    client.get("/login")
    data = {"csrf_token": client.cookies.get("tb_csrf"), "username": username, "password": password}
    return client.post("/login", data=data, follow_redirects=False)


@pytest.mark.usefixtures("token_auth")
def test_failed_logins_are_throttled_by_account_and_by_address(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    make_user(session, "alice")
    make_user(session, "bob")
    app.state.login_throttle = LoginThrottle(FailureWindow(3, 900), FailureWindow(5, 900))
    assert [_attempt(client, "alice", f"guess {i}").status_code for i in range(3)] == [401] * 3
    throttled = _attempt(client, "alice", PASSWORD)  # the right password, too late
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["retry-after"]) <= 900
    assert "Too many failed logins: try again in" in texts(throttled.text, "field-error")[0]
    assert "tb_session" not in client.cookies
    assert _attempt(client, "bob", PASSWORD).status_code == 303  # another account, same address
    assert [_attempt(client, name, "wrong").status_code for name in ("carol", "dave")] == [401, 401]
    assert _attempt(client, "bob", PASSWORD).status_code == 429  # five failures from this address


def test_at_most_a_few_passwords_are_hashed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each argon2 hash takes 64 MiB: a flood of logins must queue for them, not run them all at once.
    real, lock = accounts._hasher, threading.Lock()
    running, most = 0, 0

    class CountingHasher:
        def verify(self, password_hash: str, password: str) -> bool:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                time.sleep(0.05)
                return real.verify(password_hash, password)
            finally:
                with lock:
                    running -= 1

    monkeypatch.setattr(accounts, "_hasher", CountingHasher())
    stored = real.hash(PASSWORD)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: accounts._password_matches(stored, PASSWORD), range(12)))
    assert results == [True] * 12
    assert most == accounts.MAX_CONCURRENT_HASHES
