"""The CLI refuses to serve beyond loopback without auth, and the first start with auth creates the admin."""

from __future__ import annotations

import getpass
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import auth, db
from server.migrate import upgrade
from server.services import accounts
from trainboard import cli
from trainboard.settings import get_settings


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment changes that the cached settings, engine and session factory pick up, undone after."""

    def clear() -> None:
        get_settings.cache_clear()
        auth._expected_token_hash.cache_clear()
        db.get_engine.cache_clear()
        db.get_sessionmaker.cache_clear()

    clear()
    yield monkeypatch
    monkeypatch.undo()
    clear()


@pytest.mark.parametrize("command", ["serve", "up"])
def test_serving_beyond_loopback_without_auth_is_refused(
    settings_env: pytest.MonkeyPatch, command: str
) -> None:
    settings_env.delenv("TRAINBOARD_AUTH", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--host", "0.0.0.0", "--port", "1"])
    message = str(exit_info.value.code)
    assert "Refusing to serve on 0.0.0.0 without authentication" in message
    assert "TRAINBOARD_AUTH=on" in message


def test_loopback_or_auth_on_may_serve(settings_env: pytest.MonkeyPatch) -> None:
    cli._refuse_open_without_auth("127.0.0.1")
    settings_env.setenv("TRAINBOARD_AUTH", "on")
    get_settings.cache_clear()
    cli._refuse_open_without_auth("0.0.0.0")  # no SystemExit


def test_first_start_creates_admin_once_and_up_hands_its_worker_a_token(
    settings_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_env.setenv("TRAINBOARD_DATABASE_URL", f"sqlite:///{tmp_path / 'first.db'}")
    settings_env.setenv("TRAINBOARD_AUTH", "on")
    get_settings.cache_clear()
    upgrade(db.get_engine())
    cli.prepare_accounts()
    printed = capsys.readouterr().out
    password = printed.split("the password: ")[1].split()[0]
    cli.prepare_accounts()
    assert "password" not in capsys.readouterr().out  # printed once, at the first start only
    with db.get_sessionmaker()() as session:
        admin = accounts.authenticate(session=session, username="admin", password=password)
        assert admin is not None and admin.is_admin
        first, second = cli.embedded_worker_token(), cli.embedded_worker_token()
        assert accounts.find_token(session=session, token=first) is None  # the previous start's is revoked
        live = accounts.find_token(session=session, token=second)
        assert live is not None and live.kind == "worker"


def test_admin_password_comes_from_the_setting(settings_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings_env.setenv("TRAINBOARD_DATABASE_URL", f"sqlite:///{tmp_path / 'set.db'}")
    settings_env.setenv("TRAINBOARD_AUTH", "on")
    settings_env.setenv("TRAINBOARD_ADMIN_PASSWORD", "chosen by the operator")
    get_settings.cache_clear()
    upgrade(db.get_engine())
    cli.prepare_accounts()
    with db.get_sessionmaker()() as session:
        assert accounts.authenticate(session=session, username="admin", password="chosen by the operator")


@pytest.fixture
def database(settings_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A database of its own for the admin commands (they migrate it themselves)."""
    settings_env.setenv("TRAINBOARD_DATABASE_URL", f"sqlite:///{tmp_path / 'admin.db'}")
    get_settings.cache_clear()
    return settings_env


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_users_add_and_tokens_add_print_a_working_token_alone_on_the_last_line(
    database: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(database, "a long enough passphrase\n")
    cli.main(["users", "add", "alice", "--admin", "--password-stdin"])
    assert "Created the administrator 'alice'" in capsys.readouterr().out
    cli.main(["tokens", "add", "--user", "alice"])
    user_token = capsys.readouterr().out.splitlines()[-1]
    cli.main(["tokens", "add", "--worker"])
    worker_token = capsys.readouterr().out.splitlines()[-1]
    with db.get_sessionmaker()() as session:
        alice = accounts.authenticate(session=session, username="alice", password="a long enough passphrase")
        assert alice is not None and alice.is_admin
        user_row = accounts.find_token(session=session, token=user_token)
        assert user_row is not None and (user_row.kind, user_row.user_id) == ("user", alice.id)
        worker_row = accounts.find_token(session=session, token=worker_token)
        assert worker_row is not None and worker_row.kind == "worker"
        stored = {
            row.token_hash for row in accounts.list_tokens(session=session, user_id=None, kind="worker")
        }
        assert worker_token not in stored and accounts.hash_token(worker_token) in stored


def test_users_add_prompts_twice_without_echo(
    database: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = iter(["typed at the prompt", "typed at the prompt"])
    database.setattr(getpass, "getpass", lambda prompt: next(typed))
    cli.main(["users", "add", "bob"])
    with db.get_sessionmaker()() as session:
        assert accounts.authenticate(session=session, username="bob", password="typed at the prompt")


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["users", "add", "carol", "--password-stdin"], "password\n", "one of the most common passwords"),
        (["users", "add", "carol", "--password-stdin"], "carol\n", "at least 8 characters"),
        (
            ["users", "add", "bad name!", "--password-stdin"],
            "a long passphrase\n",
            "username: String should match",
        ),
        (
            ["users", "add", "alice", "--password-stdin"],
            "another long one\n",
            "A user named 'alice' already exists",
        ),
        (["tokens", "add", "--user", "nobody"], "", "No enabled user is called 'nobody'"),
    ],
)
def test_admin_commands_refuse_with_a_message_and_create_nothing(
    database: pytest.MonkeyPatch, argv: list[str], stdin: str, message: str
) -> None:
    _stdin(database, "a long enough passphrase\n")
    cli.main(["users", "add", "alice", "--password-stdin"])
    _stdin(database, stdin)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert message in str(exit_info.value.code) and "nothing was created" in str(exit_info.value.code)
    with db.get_sessionmaker()() as session:
        assert [user.username for user in accounts.list_users(session=session)] == ["alice"]
        assert accounts.list_tokens(session=session, user_id=None, kind="worker") == []


def test_a_trivial_admin_password_setting_stops_the_first_start(
    settings_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings_env.setenv("TRAINBOARD_DATABASE_URL", f"sqlite:///{tmp_path / 'weak.db'}")
    settings_env.setenv("TRAINBOARD_AUTH", "on")
    settings_env.setenv("TRAINBOARD_ADMIN_PASSWORD", "12345678")
    get_settings.cache_clear()
    upgrade(db.get_engine())
    with pytest.raises(SystemExit) as exit_info:
        cli.prepare_accounts()
    assert "TRAINBOARD_ADMIN_PASSWORD: The password is one of the most common" in str(exit_info.value.code)
