"""Migration 0016 (projects.metric_aliases): projects already there get none, ingestion leaves their keys
alone, and downgrading drops only the column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session

from server.db import make_engine
from server.migrate import downgrade, upgrade
from server.services.projects import get_project, to_read
from tests.backends import postgres_schema
from tests.factories import log_points, make_run


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    with postgres_schema("tb_aliases_migration") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_old_projects_have_no_aliases_and_downgrade_drops_only_the_column(empty_engine: Engine) -> None:
    engine = empty_engine
    upgrade(engine, "0016-1")
    with engine.begin() as connection:
        project_id = connection.execute(
            text(
                "INSERT INTO projects (name, dataset, optimizing_metric, satisficing, description, "
                "created_at, dataset_version) VALUES ('p', 'external', 'dev_error', '[]', '', "
                "CURRENT_TIMESTAMP, 1) RETURNING id"
            )
        ).scalar_one()

    upgrade(engine, "head")  # the ORM rows below name every later column too
    with Session(engine, expire_on_commit=False) as session:
        project = get_project(session=session, project_id=project_id)
        assert project.metric_aliases is None
        assert to_read(project).metric_aliases == {}
        run = make_run(session, project, status="running")
        log_points(session, run, {"val_error": [0.3]})
        assert {s.key for s in run.summaries} == {"val_error"}

    downgrade(engine, "0016-1")
    assert "metric_aliases" not in {c["name"] for c in inspect(engine).get_columns("projects")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM projects")).scalars().all() == ["p"]
