"""idempotency keys are scoped to the caller who sent them: another user's same key is another key

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 09:00:00.000000

A key was unique over the whole table, so a second user sending the same Idempotency-Key got the first
user's project (and was made its owner). Keys now live in the caller's scope ("user:7", "worker",
"anonymous"): unique per (scope, key). Rows from before carry no scope and are never matched again, which
costs at most one duplicate when a request from before the upgrade is retried after it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("runs", "projects")


def upgrade() -> None:
    # Indexes and a nullable column: SQLite changes both in place, no table is copied.
    for table in TABLES:
        op.add_column(table, sa.Column("idempotency_scope", sa.String(length=40), nullable=True))
        op.drop_index(f"ix_{table}_idempotency_key", table_name=table)
        op.create_index(
            f"ix_{table}_idempotency_key", table, ["idempotency_scope", "idempotency_key"], unique=True
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_idempotency_key", table_name=table)
        # Keys of different callers may now repeat: keep one row per key, the others lose theirs.
        op.execute(
            f"UPDATE {table} SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND id NOT IN "  # noqa: S608 (a constant)
            f"(SELECT min(id) FROM {table} WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key)"
        )
        op.create_index(f"ix_{table}_idempotency_key", table, ["idempotency_key"], unique=True)
        op.drop_column(table, "idempotency_scope")
