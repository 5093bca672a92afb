"""mlflow_*: what MLflow's API keeps that runs and projects have no column for; run_artifacts

Revision ID: 0019
Revises: 0018
Create Date: 2027-01-20 09:00:00.000000

- mlflow_run_tags / mlflow_experiment_tags: MLflow's key -> value tags (Trainboard's own run tags are plain
  labels). mlflow.runName and mlflow.note.content are not kept here: they are the run's name and notes.
- mlflow_deleted_runs / mlflow_deleted_experiments: MLflow's lifecycle_stage "deleted" (restorable), for
  runs and projects reached through the MLflow API.
- run_artifacts: one row per file a run stored (path, size, sha256); the bytes live in the data folder.

New tables only: nothing existing is rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mlflow_run_tags",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "mlflow_experiment_tags",
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "mlflow_deleted_runs",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "mlflow_deleted_experiments",
        sa.Column(
            "project_id", sa.Integer(), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "run_artifacts",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", sa.String(1000), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "run_artifacts",
        "mlflow_deleted_experiments",
        "mlflow_deleted_runs",
        "mlflow_experiment_tags",
        "mlflow_run_tags",
    ):
        op.drop_table(table)
