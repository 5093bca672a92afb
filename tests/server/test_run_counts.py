"""run_counts, the per-(project, status) counts that triggers keep so a run list's total is not a count of
every run: after any mix of inserts (single and bulk), status changes, moves and deletes, they must equal
a recount, on SQLite and on PostgreSQL, and the API's totals come from them."""

from __future__ import annotations

import random
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from server.db import make_engine
from server.migrate import downgrade, upgrade
from server.tables import Project, Run, RunCount
from tests.factories import make_project, make_run

STATUSES = ("queued", "running", "succeeded", "failed", "diverged", "cancelled")


def kept(session: Session) -> dict[tuple[int, str], int]:
    rows = session.execute(select(RunCount.project_id, RunCount.status, RunCount.n)).all()
    return {(project, status): n for project, status, n in rows if n}


def recount(session: Session) -> dict[tuple[int, str], int]:
    rows = session.execute(
        select(Run.project_id, Run.status, func.count()).group_by(Run.project_id, Run.status)
    )
    return {(project, status): n for project, status, n in rows}


def test_counts_follow_inserts_status_changes_moves_and_deletes(session: Session) -> None:
    rng = random.Random(7)
    projects = [make_project(session).id for _ in range(3)]
    runs: list[int] = []
    for round_ in range(60):
        action = rng.choice(("create", "bulk", "status", "status", "move", "delete"))
        if action == "create" or not runs:
            run = make_run(session, session.get(Project, rng.choice(projects)), status=rng.choice(STATUSES))
            runs.append(run.id)
        elif action == "bulk":  # one multi-row INSERT: PostgreSQL counts it per statement
            rows = [
                {"project_id": rng.choice(projects), "name": f"bulk-{round_}-{i}",
                 "status": rng.choice(STATUSES), "external": True, "config": {}, "params": {}, "attempt": 0}
                for i in range(rng.randint(2, 40))
            ]  # fmt: skip
            runs += session.scalars(insert(Run).returning(Run.id), rows).all()
        elif action == "status":  # one run, or many in one statement
            chosen = rng.sample(runs, k=min(len(runs), rng.choice((1, 1, 5))))
            session.execute(update(Run).where(Run.id.in_(chosen)).values(status=rng.choice(STATUSES)))
        elif action == "move":
            session.execute(
                update(Run).where(Run.id == rng.choice(runs)).values(project_id=rng.choice(projects))
            )
        else:
            chosen = rng.sample(runs, k=min(len(runs), rng.choice((1, 3))))
            session.execute(delete(Run).where(Run.id.in_(chosen)))
            runs = [r for r in runs if r not in chosen]
        session.commit()
        session.expire_all()
        assert kept(session) == recount(session), (round_, action)
    # A project deleted with its runs takes its counts along.
    session.delete(session.get(Project, projects[0]))
    session.commit()
    assert kept(session) == recount(session)
    assert not session.scalars(select(RunCount).where(RunCount.project_id == projects[0])).all()


def test_an_unchanged_status_counts_nothing(session: Session) -> None:
    project = make_project(session)
    run = make_run(session, project, status="running")
    session.execute(update(Run).where(Run.id == run.id).values(status="running", name="renamed"))
    session.commit()
    assert kept(session) == recount(session) == {(project.id, "running"): 1}


def test_list_totals_come_from_the_counts(client: TestClient, session: Session) -> None:
    project, other = make_project(session), make_project(session)
    for status in ("succeeded", "succeeded", "failed", "running"):
        make_run(session, project, status=status)
    make_run(session, other, status="succeeded")

    def total(**query: object) -> int:
        response = client.get("/api/v1/runs", params={"limit": 1, **query})
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    assert total(project_id=project.id) == 4
    assert total(project_id=project.id, status="succeeded") == 2
    assert total(project_id=other.id, status="failed") == 0
    assert total(status="succeeded") == session.scalar(
        select(func.count()).select_from(Run).where(Run.status == "succeeded")
    )
    # The projects' run counts too, on the project and in the project list.
    assert client.get(f"/api/v1/projects/{project.id}").json()["run_count"] == 4
    listed = {
        p["id"]: p["run_count"] for p in client.get("/api/v1/projects", params={"limit": 200}).json()["items"]
    }
    assert (listed[project.id], listed[other.id]) == (4, 1)


def test_the_migration_counts_the_runs_already_there(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0009")
    with Session(engine) as session:
        # Core inserts of the columns 0009 has (the ORM's Project and Run name columns added later).
        project_id = session.scalar(
            insert(Project).values(name="old", dataset="digits", satisficing=[]).returning(Project.id)
        )
        for status in ("succeeded", "succeeded", "failed"):  # SQL: the ORM's defaults name later columns
            session.execute(
                text(
                    "INSERT INTO runs (project_id, name, status, external, config, params, attempt, "
                    "created_at) VALUES (:project, 'old', :status, false, '{}', '{}', 0, CURRENT_TIMESTAMP)"
                ),
                {"project": project_id, "status": status},
            )
        session.commit()
    upgrade(engine)
    with Session(engine) as session:
        assert kept(session) == {(project_id, "succeeded"): 2, (project_id, "failed"): 1}
        make_run(session, session.get(Project, project_id), status="failed")  # the triggers are on
        assert kept(session) == recount(session)
    downgrade(engine, "0009")
    upgrade(engine)
    engine.dispose()
