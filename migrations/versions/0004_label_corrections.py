"""label corrections, a dataset version per project, and an index for the confusion counts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "label_corrections",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("example_id", sa.String(length=200), nullable=False),
        sa.Column("corrected_label", sa.String(length=200), nullable=False),
        sa.Column("applied_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "example_id"),
    )
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("dataset_version", sa.Integer(), server_default="1", nullable=False))
    op.create_index(
        "ix_predictions_confusion", "predictions", ["run_id", "split", "label", "predicted"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_confusion", table_name="predictions")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("dataset_version")
    op.drop_table("label_corrections")
