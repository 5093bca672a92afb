"""runs.group: the name that ties runs differing only by seed, to tell a real gap from seed noise

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00.000000

Nullable, with no default, so adding it rewrites no row. The index serves a project's list of groups and
the lookup of one group's runs (both filter on project first).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("group", sa.String(length=200), nullable=True))
    op.create_index("ix_runs_project_group", "runs", ["project_id", "group"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_runs_project_group", table_name="runs")
    # A plain ALTER TABLE (SQLite 3.35+ drops columns natively): batch mode would rebuild the table on
    # SQLite and lose the run_counts triggers of 0010 with it.
    op.drop_column("runs", "group")
