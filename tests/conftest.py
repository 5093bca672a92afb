"""Shared fixtures: a real database migrated by Alembic (SQLite, and PostgreSQL when reachable), one
transaction per test rolled back at the end, and a TestClient of the app using that session."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Settings are read once per process: point them at a throw-away data folder before anything imports them.
_HOME = Path(tempfile.mkdtemp(prefix="trainboard-tests-"))
os.environ["TRAINBOARD_HOME"] = str(_HOME)
for _name in (
    "TRAINBOARD_DATABASE_URL",
    "TRAINBOARD_BROKER_URL",
    "TRAINBOARD_API_TOKEN",
    "TRAINBOARD_SERVER_URL",
):
    os.environ.pop(_name, None)

# Starlette's TestClient speaks httpx2 when it is installed (huggingface_hub 2, of the huggingface extra,
# brings it), but the client library speaks httpx, and tests hand it a TestClient's transport
# (`Client(transport=client._transport)`): the TestClient is made to use httpx, as without the extra.
sys.modules["httpx2"] = None  # type: ignore[assignment]  # `import httpx2` raises ModuleNotFoundError
from fastapi.testclient import TestClient  # noqa: E402
from starlette import testclient as _starlette_testclient  # noqa: E402

del sys.modules["httpx2"]  # huggingface_hub imports it later
assert _starlette_testclient.httpx.__name__ == "httpx", "the TestClient was imported before this conftest"
import argon2  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from server.app import create_app  # noqa: E402
from server.db import get_session, make_engine  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.services import accounts  # noqa: E402
from tests.backends import migrated_postgres_schema  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"

# argon2 at its production cost (64 MiB and about 0.1-1.4 s a hash here) was most of the time the account
# and auth tests took; they check what is hashed and verified, not how hard: the cheapest parameters.
accounts._hasher = argon2.PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Fast tests first, so a broken API shows before the slow end-to-end runs.
    order = {"browser": 3, "e2e": 2}
    items.sort(key=lambda item: max((order.get(m.name, 0) for m in item.iter_markers()), default=0))


#: How much of each process log a failed test's report shows.
LOG_TAIL_CHARS = 6000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A failed test that ran real processes (a server, a worker) shows the end of their logs: a flaky
    end-to-end failure in CI is then diagnosable from the report alone."""
    report: pytest.TestReport = yield
    if report.failed and call.when == "call":
        tmp = getattr(item, "funcargs", {}).get("tmp_path")
        if isinstance(tmp, Path) and tmp.is_dir():
            for log in sorted(tmp.rglob("*.log"))[:6]:
                text = log.read_text(errors="replace")
                report.sections.append((f"{log.name} (last {LOG_TAIL_CHARS} chars)", text[-LOG_TAIL_CHARS:]))
    return report


@pytest.fixture(scope="session")
def home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def sqlite_template(home: Path) -> Path:
    """A SQLite file migrated to head once; each test gets its own copy."""
    path = home / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    # One schema per test session keeps us off the shared database's other tables.
    with migrated_postgres_schema("tb_test") as engine:
        yield engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    """The same test on every database we support, isolated from the other tests.

    SQLite: a fresh copy of the migrated template file. PostgreSQL: a session inside an outer transaction
    that is rolled back at the end (services commit to savepoints).
    """
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        with Session(engine, expire_on_commit=False) as test_session:
            yield test_session
        engine.dispose()
        return
    connection = request.getfixturevalue("postgres_engine").connect()
    transaction = connection.begin()
    test_session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield test_session
    test_session.close()
    transaction.rollback()
    connection.close()


@pytest.fixture
def app(session: Session):  # type: ignore[no-untyped-def]
    application = create_app(run_reaper=False)
    application.dependency_overrides[get_session] = lambda: session
    return application


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
