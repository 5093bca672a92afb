"""Migration 0018 (gradient checks as rows): the table checks are written to; the downgrade drops it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session

from server.db import make_engine
from server.migrate import alembic_config, downgrade, upgrade
from server.schemas import GradcheckResult
from server.services import gradcheck
from server.tables import GradientCheck
from tests.backends import postgres_schema

#: The revision 0018 follows (re-chained when branches merge, so read rather than written here).
BEFORE = ScriptDirectory.from_config(alembic_config()).get_revision("0018").down_revision


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("tb_gradient_checks_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_a_check_is_a_row_until_the_downgrade_drops_the_table(empty_engine: Engine) -> None:
    assert isinstance(BEFORE, str)
    upgrade(empty_engine)
    check_id = "6f1c1d4e-0000-4000-8000-000000000018"
    with Session(empty_engine) as session:
        session.add(
            GradientCheck(
                id=check_id, status="queued", dataset="wine", config={"model": {"name": "mlp"}},
                batch_size=4, parameters=[], created_at=datetime.now(UTC),
            )
        )  # fmt: skip
        session.commit()
        assert gradcheck.queued_datasets(session=session) == {"wine"}
        result = GradcheckResult.model_validate({"parameters": [{"name": "w", "relative_difference": 2e-8}]})
        done = gradcheck.record_result(session=session, check_id=check_id.upper(), data=result)
        assert (done.status, done.reading, done.parameters[0].reading) == ("done", "great", "great")
        assert gradcheck.queued_datasets(session=session) == set()
    downgrade(empty_engine, BEFORE)
    assert "gradient_checks" not in inspect(empty_engine).get_table_names()
    upgrade(empty_engine)
    assert "gradient_checks" in inspect(empty_engine).get_table_names()
