"""runs.archived_at: a run archived (soft-deleted) by DELETE /runs/{id}, brought back by /restore

Revision ID: 0022
Revises: 0021
Create Date: 2027-01-22 09:00:00.000000

Lists hide archived runs unless asked for them; the index on (project_id, archived_at) keeps counting a
project's archived runs (subtracted from run_counts' totals) to an index range.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_runs_project_archived", "runs", ["project_id", "archived_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_project_archived", table_name="runs")
    op.drop_column("runs", "archived_at")
