"""datasets.tasks: a multi-task dataset's task names (its labels are N x K, -1 where missing)

Revision ID: 0021
Revises: 0020
Create Date: 2027-02-10 09:00:00.000000

NULL for every single-task dataset, so existing rows need no data change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("tasks", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("tasks")
