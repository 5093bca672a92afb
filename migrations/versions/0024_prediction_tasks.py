"""predictions.task and prediction_counts.task: a multi-task run's predictions, one per example and task

Revision ID: 0024
Revises: 0023
Create Date: 2027-01-27 09:00:00.000000

task is NULL for a single-task run, so it cannot join the primary keys: predictions keeps one row per
example with two partial unique indexes (task IS NULL / IS NOT NULL), and prediction_counts, a cache
replaced whole per (run, split, task), keeps a plain index. The read indexes gain task after split.

Both tables are rebuilt (create, copy, drop, rename), the one path that drops a primary key on SQLite as on
PostgreSQL; no trigger lives on either table. Rows already there are single-task: their task stays NULL.
Downgrading drops the multi-task rows, which the old keys could not hold.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREDICTION_COLUMNS = "run_id, split, example_id, label, predicted, is_error, confidence, loss"
COUNT_COLUMNS = "run_id, split, label, predicted, confidence_bin, n, confidence_sum"


def _prediction_columns(with_task: bool) -> list[sa.Column[object]]:
    task = [sa.Column("task", sa.String(length=100), nullable=True)] if with_task else []
    return [
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=20), nullable=False),
        *task,
        sa.Column("example_id", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("predicted", sa.String(length=200), nullable=False),
        sa.Column("is_error", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("loss", sa.Float(), nullable=True),
    ]


def _count_columns(with_task: bool) -> list[sa.Column[object]]:
    task = [sa.Column("task", sa.String(length=100), nullable=True)] if with_task else []
    return [
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=20), nullable=False),
        *task,
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("predicted", sa.String(length=200), nullable=False),
        sa.Column("confidence_bin", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("confidence_sum", sa.Float(), nullable=True),
    ]


def _swap(table: str, *, columns: str, where: str = "") -> None:
    """Copy `table` into `{table}_new` (already created), then put the new table in its place."""
    op.execute(f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table} {where}")  # noqa: S608
    op.drop_table(table)
    op.rename_table(f"{table}_new", table)


def _fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table("predictions_new", *_prediction_columns(True), _fk())
    _swap("predictions", columns=PREDICTION_COLUMNS)
    op.create_index(
        "uq_predictions_example",
        "predictions",
        ["run_id", "split", "example_id"],
        unique=True,
        sqlite_where=sa.text("task IS NULL"),
        postgresql_where=sa.text("task IS NULL"),
    )
    op.create_index(
        "uq_predictions_task_example",
        "predictions",
        ["run_id", "split", "task", "example_id"],
        unique=True,
        sqlite_where=sa.text("task IS NOT NULL"),
        postgresql_where=sa.text("task IS NOT NULL"),
    )
    op.create_index(
        "ix_predictions_errors", "predictions", ["run_id", "split", "task", "is_error", "confidence"]
    )
    op.create_index(
        "ix_predictions_confusion", "predictions", ["run_id", "split", "task", "label", "predicted"]
    )
    op.create_index(
        "ix_predictions_errors_loss", "predictions", ["run_id", "split", "task", "is_error", "loss"]
    )

    op.create_table("prediction_counts_new", *_count_columns(True), _fk())
    _swap("prediction_counts", columns=COUNT_COLUMNS)
    op.create_index("ix_prediction_counts_run", "prediction_counts", ["run_id", "split", "task"])


def downgrade() -> None:
    op.create_table(
        "predictions_new",
        *_prediction_columns(False),
        _fk(),
        sa.PrimaryKeyConstraint("run_id", "split", "example_id"),
    )
    _swap("predictions", columns=PREDICTION_COLUMNS, where="WHERE task IS NULL")
    op.create_index("ix_predictions_errors", "predictions", ["run_id", "split", "is_error", "confidence"])
    op.create_index("ix_predictions_confusion", "predictions", ["run_id", "split", "label", "predicted"])
    op.create_index("ix_predictions_errors_loss", "predictions", ["run_id", "split", "is_error", "loss"])

    op.create_table(
        "prediction_counts_new",
        *_count_columns(False),
        _fk(),
        sa.PrimaryKeyConstraint("run_id", "split", "label", "predicted", "confidence_bin"),
    )
    _swap("prediction_counts", columns=COUNT_COLUMNS, where="WHERE task IS NULL")
