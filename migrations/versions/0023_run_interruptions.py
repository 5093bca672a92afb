"""runs.interruptions and runs.last_interruption: how often a worker's run was cut off, and the last reason

Revision ID: 0023
Revises: 0022
Create Date: 2027-01-20 09:00:00.000000

A worker that stops hands its run back and the reaper re-queues a run whose worker went silent; the next claim
clears `error`, and a hand-back gives its attempt back, so nothing said afterwards that the run had resumed.
These two columns keep it for the run page ("interrupted, resuming from epoch N", then "resumed").

Nullable or with a server default, so adding them rewrites no row; plain ALTER TABLEs (batch mode would
rebuild runs on SQLite and lose the run_counts triggers of 0010).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("interruptions", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("last_interruption", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "last_interruption")
    op.drop_column("runs", "interruptions")
