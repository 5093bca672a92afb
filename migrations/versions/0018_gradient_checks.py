"""gradient_checks: gradient checks as rows instead of JSON files in the data folder

Revision ID: 0018
Revises: 0017
Create Date: 2027-01-20 09:00:00.000000

A check lives for seconds (queued, then done or failed when the worker posts its result); the JSON files of
earlier checks are left where they are and no longer read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gradient_checks",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("max_relative_difference", sa.Float(), nullable=True),
        sa.Column("reading", sa.Text(), nullable=True),
        sa.Column("measured", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name="fk_gradient_checks_owner_id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.create_index("ix_gradient_checks_status", "gradient_checks", ["status"])


def downgrade() -> None:
    op.drop_index("ix_gradient_checks_status", table_name="gradient_checks")
    op.drop_table("gradient_checks")
