"""runs.tags, runs.notes, runs.environment: what a person says about a run, and what it really trained with

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-10 09:00:00.000000

tags and notes get constant server defaults ('[]' and ''), so runs already there read as untagged and
without notes, and adding them rewrites no row on PostgreSQL (a constant default is kept in the catalog).
environment stays NULL for runs recorded before it was captured.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("tags", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.add_column("runs", sa.Column("notes", sa.Text(), nullable=False, server_default=sa.text("''")))
    op.add_column("runs", sa.Column("environment", sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE (SQLite 3.35+ drops columns natively): batch mode would rebuild the table on SQLite
    # and lose the run_counts triggers of 0010 with it.
    op.drop_column("runs", "environment")
    op.drop_column("runs", "notes")
    op.drop_column("runs", "tags")
