"""run_counts: each project's runs per status, kept by triggers, so a run list's total is not a count

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 09:00:00.000000

Counting a project's runs for a list's total read every one of them (0.9 ms at 10,000 runs on PostgreSQL,
growing with the project) and took longer than finding the page itself. Triggers on runs keep the count
of each (project, status); a total is then the sum of a few rows.

PostgreSQL: inserts and deletes are counted per statement from the transition tables (a 1,000-row INSERT
updates each (project, status) row once, not a thousand times); a run that changes status moves one count
to another, row by row. Inserts and moves lock counter rows in (project_id, status) order, so that
transactions moving runs between the same statuses cannot deadlock on them. SQLite (one writer at a
time): row triggers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ADD = (
    "INSERT INTO run_counts (project_id, status, n) VALUES ({project}, {status}, {n}) "
    "ON CONFLICT (project_id, status) DO UPDATE SET n = run_counts.n + excluded.n"
)

POSTGRESQL = [
    """
    CREATE FUNCTION trainboard_count_inserted_runs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO run_counts (project_id, status, n)
        SELECT project_id, status, count(*) FROM inserted_runs GROUP BY project_id, status
        ORDER BY project_id, status
        ON CONFLICT (project_id, status) DO UPDATE SET n = run_counts.n + excluded.n;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION trainboard_count_deleted_runs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE run_counts SET n = run_counts.n - gone.n
        FROM (SELECT project_id, status, count(*) AS n FROM deleted_runs GROUP BY project_id, status
              ORDER BY project_id, status) AS gone
        WHERE run_counts.project_id = gone.project_id AND run_counts.status = gone.status;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE FUNCTION trainboard_count_moved_run() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (OLD.project_id, OLD.status) < (NEW.project_id, NEW.status) THEN
            UPDATE run_counts SET n = n - 1 WHERE project_id = OLD.project_id AND status = OLD.status;
            {_ADD.format(project="NEW.project_id", status="NEW.status", n=1)};
        ELSE
            {_ADD.format(project="NEW.project_id", status="NEW.status", n=1)};
            UPDATE run_counts SET n = n - 1 WHERE project_id = OLD.project_id AND status = OLD.status;
        END IF;
        RETURN NULL;
    END
    $$
    """,  # noqa: S608 (constants only)
    "CREATE TRIGGER runs_count_inserted AFTER INSERT ON runs REFERENCING NEW TABLE AS inserted_runs "
    "FOR EACH STATEMENT EXECUTE FUNCTION trainboard_count_inserted_runs()",
    "CREATE TRIGGER runs_count_deleted AFTER DELETE ON runs REFERENCING OLD TABLE AS deleted_runs "
    "FOR EACH STATEMENT EXECUTE FUNCTION trainboard_count_deleted_runs()",
    "CREATE TRIGGER runs_count_moved AFTER UPDATE OF project_id, status ON runs FOR EACH ROW "
    "WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id OR OLD.status IS DISTINCT FROM NEW.status) "
    "EXECUTE FUNCTION trainboard_count_moved_run()",
]

# SQLite's triggers cannot upsert, so a missing counter row is made first (OR IGNORE), then incremented.
_SQLITE_ADD = (
    "INSERT OR IGNORE INTO run_counts (project_id, status, n) VALUES (NEW.project_id, NEW.status, 0); "
    "UPDATE run_counts SET n = n + 1 WHERE project_id = NEW.project_id AND status = NEW.status;"
)
_SQLITE_REMOVE = "UPDATE run_counts SET n = n - 1 WHERE project_id = OLD.project_id AND status = OLD.status;"
SQLITE = [
    f"CREATE TRIGGER runs_count_inserted AFTER INSERT ON runs BEGIN {_SQLITE_ADD} END",
    f"CREATE TRIGGER runs_count_deleted AFTER DELETE ON runs BEGIN {_SQLITE_REMOVE} END",
    "CREATE TRIGGER runs_count_moved AFTER UPDATE OF project_id, status ON runs "
    "WHEN OLD.project_id IS NOT NEW.project_id OR OLD.status IS NOT NEW.status "
    f"BEGIN {_SQLITE_REMOVE} {_SQLITE_ADD} END",
]


def upgrade() -> None:
    op.create_table(
        "run_counts",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "status"),
    )
    op.execute(
        "INSERT INTO run_counts (project_id, status, n) "
        "SELECT project_id, status, count(*) FROM runs GROUP BY project_id, status"
    )
    for statement in POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    for trigger in ("runs_count_inserted", "runs_count_deleted", "runs_count_moved"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER {trigger} ON runs")
        else:
            op.execute(f"DROP TRIGGER {trigger}")
    if op.get_bind().dialect.name == "postgresql":
        for function in ("inserted_runs", "deleted_runs", "moved_run"):
            op.execute(f"DROP FUNCTION trainboard_count_{function}()")
    op.drop_table("run_counts")
