"""leader_leases: which server process runs the background duties on SQLite

Revision ID: 0020
Revises: 0019
Create Date: 2027-01-20 09:00:00.000000

With `trainboard serve --workers N` one process at a time runs the reaper and the broker re-sends. On
PostgreSQL an advisory lock elects it; SQLite has none, so a row with a lease does (server/leader.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leader_leases",
        sa.Column("name", sa.String(length=50), primary_key=True),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leader_leases")
