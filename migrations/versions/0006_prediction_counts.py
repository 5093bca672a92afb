"""prediction counts per (run, split, label, predicted, confidence bin); an index for "highest loss first"

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of server.services.prediction_counts.CONFIDENCE_BINS at this revision.
BINS = 10


def _bin_sql() -> str:
    # Portable floor(confidence * BINS), top bin clipped: CAST rounds on PostgreSQL, truncates on SQLite.
    whens = " ".join(f"WHEN confidence >= {i / BINS!r} THEN {i}" for i in range(BINS - 1, 0, -1))
    return f"CASE WHEN confidence IS NULL THEN -1 {whens} ELSE 0 END"


def upgrade() -> None:
    op.create_table(
        "prediction_counts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("predicted", sa.String(length=200), nullable=False),
        sa.Column("confidence_bin", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("confidence_sum", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "split", "label", "predicted", "confidence_bin"),
    )
    op.create_index(
        "ix_predictions_errors_loss", "predictions", ["run_id", "split", "is_error", "loss"], unique=False
    )
    # Predictions stored before this revision get their counts here (portable SQL: SQLite and PostgreSQL).
    op.execute(
        f"""
        INSERT INTO prediction_counts (run_id, split, label, predicted, confidence_bin, n, confidence_sum)
        SELECT run_id, split, label, predicted, {_bin_sql()}, COUNT(*), SUM(confidence)
        FROM predictions GROUP BY run_id, split, label, predicted, {_bin_sql()}
        """  # noqa: S608 (the CASE is built from constants)
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_errors_loss", table_name="predictions")
    op.drop_table("prediction_counts")
