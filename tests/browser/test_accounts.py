"""Accounts in a real browser: an admin logs in, adds a user, shares a project with them, makes a token."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_page, screenshot, serve

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "correct-horse-battery"
VERA_PASSWORD = "vera-trains-models"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`trainboard serve` with accounts on: its first start creates 'admin' with the configured password."""
    home = tmp_path_factory.mktemp("browser-auth")
    with serve(home, ["trainboard.cli", "serve"], auth="on", admin_password=ADMIN_PASSWORD) as url:
        yield url


def log_in(page, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    assert "/login" in page.url, "pages need a login when auth is on"
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


def test_admin_shares_a_project_with_a_new_user_who_can_then_see_it(browser, auth_server: str) -> None:  # type: ignore[no-untyped-def]
    with open_page(browser, auth_server) as page:
        log_in(page, "admin", ADMIN_PASSWORD)
        page.get_by_label("Name", exact=True).fill("shared-digits")
        page.get_by_role("button", name="Create project").click()
        project_url = page.url

        # The sweep form's preview is an API write made with the session cookie: it carries the CSRF header.
        page.goto(project_url.rstrip("/") + "/sweeps/new")
        expect(page.locator("#preview_0 .main-svg").first).to_be_attached(timeout=15_000)

        page.goto("/users")
        page.locator("#new-user").get_by_label("Username").fill("vera")
        page.locator("#new-user").get_by_label("Password (at least 8 characters)").fill(VERA_PASSWORD)
        page.get_by_role("button", name="Create user").click()
        assert "vera" in page.locator("table").inner_text()

        page.goto(project_url.rstrip("/") + "/members")
        page.locator("#add-member").get_by_label("Username").fill("vera")
        page.locator("#add-member").get_by_label("Role").select_option("viewer")
        page.get_by_role("button", name="Add").click()
        assert "vera is now viewer of this project" in page.content()

        page.goto("/account")
        page.get_by_label("Name").fill("laptop")
        page.get_by_role("button", name="Create a token").click()
        token = page.locator('[data-role="new-token"]').inner_text()
        assert token.startswith("tb_")
        page.goto("/account")
        assert token not in page.content(), "a token is shown only once"
        screenshot(page, "account")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r"/login"))  # let the navigation end before the context closes
        assert not page.problems, page.problems  # type: ignore[attr-defined]

    with open_page(browser, auth_server) as page:
        log_in(page, "vera", VERA_PASSWORD)
        assert page.get_by_role("link", name="shared-digits").count() == 1
        assert not page.problems, page.problems  # type: ignore[attr-defined]
        refused = page.goto("/users")
        assert refused is not None and refused.status == 403
        assert "Only administrators" in page.content()
