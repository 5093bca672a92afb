"""Which passwords are too easy to guess (server/passwords.py), and the schema agrees on the length."""

from __future__ import annotations

import pytest

from server.passwords import COMMON, MIN_LENGTH, password_problem
from server.schemas import UserCreate


@pytest.mark.parametrize(
    ("password", "username", "problem"),
    [
        ("abc", None, "at least 8 characters"),
        ("PASSWORD", None, "most common"),
        ("qwertyuiop", None, "most common"),
        ("alice-wonder", "alice-wonder", "must not be the username"),
        ("rednow-ecila", "alice-wonder", "must not be the username"),  # backwards
        ("abababab", None, "repeated or consecutive"),
        ("98765432", None, "repeated or consecutive"),
        ("lmnopqrs", None, "repeated or consecutive"),
    ],
)
def test_easy_passwords_are_named_with_the_reason(password: str, username: str | None, problem: str) -> None:
    assert problem in (password_problem(password, username) or "")


@pytest.mark.parametrize("password", ["correct horse battery", "Tr41n-b0ard!", "a1b2c3d4e5"])
def test_other_passwords_pass(password: str) -> None:
    assert password_problem(password, "alice") is None


def test_every_listed_password_would_otherwise_pass_the_length_rule() -> None:
    assert min(len(p) for p in COMMON) >= MIN_LENGTH and all(p == p.lower() for p in COMMON)


def test_the_api_schema_states_the_same_minimum_length() -> None:
    password = UserCreate.model_json_schema()["properties"]["password"]
    assert password["minLength"] == MIN_LENGTH
