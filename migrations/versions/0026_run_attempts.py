"""run_attempts: one row per claim of a worker's run (worker, start, end, how it ended, epoch it resumed from)

Revision ID: 0026
Revises: 0025
Create Date: 2027-01-24 09:30:00.000000

runs.interruptions (0023) counts the cut-offs and keeps the last reason only; the run page's attempt history
needs each one. Runs claimed before this revision have no rows: the history starts with their next claim.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("resumed_from_epoch", sa.Integer(), nullable=False, server_default="1"),
    )
    op.create_index("ix_run_attempts_run_number", "run_attempts", ["run_id", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_run_attempts_run_number", table_name="run_attempts")
    op.drop_table("run_attempts")
