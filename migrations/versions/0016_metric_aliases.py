"""projects.metric_aliases: a script's own metric names mapped to the canonical keys at ingestion

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 09:00:00.000000

Nullable JSON with no default, so adding it rewrites no row: NULL means the project has no aliases, and
ingestion then does nothing more than read it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("projects", sa.Column("metric_aliases", sa.JSON(), nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE (SQLite 3.35+ drops columns natively), as in 0011: no batch-mode table rebuild.
    op.drop_column("projects", "metric_aliases")
