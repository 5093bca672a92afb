"""The CLI refuses to serve beyond loopback without auth, and the first start with auth creates the admin."""

from __future__ import annotations

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
