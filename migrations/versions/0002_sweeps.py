"""sweeps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("base_config", sa.JSON(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("parallelism", sa.Integer(), nullable=False),
        sa.Column("early_stopping", sa.JSON(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["sweeps.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sweeps_project", "sweeps", ["project_id", "id"], unique=False)
    # Not batch mode: on SQLite that copies and drops `runs`, and with foreign keys on, dropping it would
    # cascade to every run's metric points. SQLite can add a nullable column with an inline REFERENCES.
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # After a downgrade the column is still there (see downgrade): reuse it.
        if "sweep_id" not in {c["name"] for c in sa.inspect(bind).get_columns("runs")}:
            op.execute(
                "ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps (id) ON DELETE SET NULL"
            )
    else:
        op.add_column("runs", sa.Column("sweep_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_runs_sweep_id_sweeps", "runs", "sweeps", ["sweep_id"], ["id"], ondelete="SET NULL"
        )
    op.add_column("runs", sa.Column("stopped_early", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index("ix_runs_sweep_id", "runs", ["sweep_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_runs_sweep_id", table_name="runs")
    # SQLite (3.35+) drops a plain column in place; one with a REFERENCES clause needs the table copied,
    # which the runs table cannot afford (see upgrade), so there the column stays, unused, after a downgrade.
    if op.get_bind().dialect.name == "sqlite":
        op.drop_column("runs", "stopped_early")
    else:
        op.drop_constraint("fk_runs_sweep_id_sweeps", "runs", type_="foreignkey")
        op.drop_column("runs", "stopped_early")
        op.drop_column("runs", "sweep_id")
    op.drop_index("ix_sweeps_project", table_name="sweeps")
    op.drop_table("sweeps")
