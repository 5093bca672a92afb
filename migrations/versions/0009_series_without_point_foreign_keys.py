"""PostgreSQL: metric points and rollups keep their run by a lock and a trigger, not a per-row foreign key

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:30:00.000000

A foreign key checks its parent once per inserted row (an SPI query each): for a 1,000-point batch that was
2.4 ms of a 9 ms statement. The ingest statement (server/services/pg_ingest.py) now locks the run's row
once (FOR KEY SHARE) and stores nothing for a run that does not exist, which is the same guarantee for
the one path that writes points; this trigger does the ON DELETE CASCADE the keys did. SQLite keeps its
foreign keys (there the batch is not bound by them).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("metric_points", "metric_rollups")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.drop_constraint(f"{table}_run_id_fkey", table, type_="foreignkey")
    # One statement-level trigger: deleting a project's thousand runs deletes their series in one pass.
    op.execute(
        """
        CREATE FUNCTION trainboard_delete_run_series() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM metric_points WHERE run_id IN (SELECT id FROM deleted_runs);
            DELETE FROM metric_rollups WHERE run_id IN (SELECT id FROM deleted_runs);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER runs_delete_series AFTER DELETE ON runs REFERENCING OLD TABLE AS deleted_runs "
        "FOR EACH STATEMENT EXECUTE FUNCTION trainboard_delete_run_series()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER runs_delete_series ON runs")
    op.execute("DROP FUNCTION trainboard_delete_run_series()")
    for table in TABLES:
        op.execute(f"DELETE FROM {table} WHERE run_id NOT IN (SELECT id FROM runs)")  # noqa: S608 (constants)
        op.create_foreign_key(f"{table}_run_id_fkey", table, "runs", ["run_id"], ["id"], ondelete="CASCADE")
