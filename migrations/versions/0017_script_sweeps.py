"""sweeps over a user's own script: target, hand-out counter, the run its trials copy; runs.log_tail

Revision ID: 0017
Revises: 0016
Create Date: 2027-01-10 09:00:00.000000

- sweeps.target: "zoo" (trials queued to the workers, every sweep so far) or "script" (trials handed to
  `trainboard agent` through POST /sweeps/{id}/next).
- sweeps.handed_out: how many trials agents were given; /next takes one with a compare-and-set on it, so two
  agents asking at once never get the same trial.
- sweeps.parent_run_id and sweeps.trial_group: the run a "try next" or "repeat with seeds" sweep copies (its
  trials become that run's children) and the seed group they join.
- runs.log_tail: the last lines a trial's command wrote to stderr before it crashed (the agent sends them).

Every column is nullable or has a server default, so adding them rewrites no row. Plain ALTER TABLEs: batch
mode would rebuild the tables on SQLite and lose the run_counts triggers of 0010 with runs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sweeps", sa.Column("target", sa.String(length=20), nullable=False, server_default="zoo"))
    op.add_column("sweeps", sa.Column("handed_out", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its REFERENCES clause, but alembic would ALTER the constraint apart.
        op.execute(
            "ALTER TABLE sweeps ADD COLUMN parent_run_id INTEGER "
            "CONSTRAINT fk_sweeps_parent_run_id REFERENCES runs (id) ON DELETE SET NULL"
        )
    else:
        op.add_column("sweeps", sa.Column("parent_run_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_sweeps_parent_run_id", "sweeps", "runs", ["parent_run_id"], ["id"], ondelete="SET NULL"
        )
    op.add_column("sweeps", sa.Column("trial_group", sa.String(length=200), nullable=True))
    op.add_column("runs", sa.Column("log_tail", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "log_tail")
    op.drop_column("sweeps", "trial_group")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_sweeps_parent_run_id", "sweeps", type_="foreignkey")
    op.drop_column("sweeps", "parent_run_id")
    op.drop_column("sweeps", "handed_out")
    op.drop_column("sweeps", "target")
