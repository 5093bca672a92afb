"""idempotency keys on runs and projects, so a retried POST returns the first one instead of a twin

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("runs", "projects")


def upgrade() -> None:
    # A unique index rather than a unique constraint: SQLite adds both the column and the index in place,
    # where a constraint would copy and drop the table (and, with foreign keys on, cascade to its children).
    for table in TABLES:
        op.add_column(table, sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        op.create_index(f"ix_{table}_idempotency_key", table, ["idempotency_key"], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_idempotency_key", table_name=table)
        op.drop_column(table, "idempotency_key")
