"""workers: each worker process's last announcement (slots, runs it trains, device), for "N of M slots free"

Revision ID: 0025
Revises: 0023
Create Date: 2027-01-24 09:00:00.000000

Workers know only the broker and the server, so the server cannot ask them how many slots they have; each
one posts it every few seconds instead (POST /api/v1/workers/heartbeat). A worker seen within the timeout is
live; older rows are kept until a later announcement prunes them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
# 0024 is being written on another branch: re-chained when the branches meet.
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("active_runs", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_workers_last_seen_at", "workers", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_workers_last_seen_at", table_name="workers")
    op.drop_table("workers")
