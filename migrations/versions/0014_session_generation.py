"""users.session_generation: logging out ends the user's sessions on the server, not just in one browser

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:20:00.000000

A session cookie is signed over the user's generation; logging out bumps it, so a copy of the cookie
(taken before the logout) stops working at once instead of for the rest of its 14 days. A column with a
server default: SQLite and PostgreSQL add it in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("users", "session_generation")
