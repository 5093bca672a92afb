"""metric rollups: per-bucket minima and maxima of each series, so long series downsample without a scan

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of server.services.metrics.ROLLUP_WIDTHS at this revision
# (a data migration imports no app code).
WIDTHS = tuple(64 * 16**level for level in range(8))


def upgrade() -> None:
    op.create_table(
        "metric_rollups",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("width", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("min_step", sa.BigInteger(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=False),
        sa.Column("max_step", sa.BigInteger(), nullable=False),
        sa.Column("max_value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key", "width", "bucket"),
    )
    # Points logged before this revision get their rollups here (portable SQL: SQLite and PostgreSQL).
    for width in WIDTHS:
        op.execute(
            f"""
            INSERT INTO metric_rollups
                (run_id, key, width, bucket, n, min_step, min_value, max_step, max_value)
            SELECT g.run_id, g.key, {width}, g.b, g.n,
                (SELECT MIN(p.step) FROM metric_points p WHERE p.run_id = g.run_id AND p.key = g.key
                    AND p.step >= g.b * {width} AND p.step < (g.b + 1) * {width} AND p.value = g.lo),
                g.lo,
                (SELECT MIN(p.step) FROM metric_points p WHERE p.run_id = g.run_id AND p.key = g.key
                    AND p.step >= g.b * {width} AND p.step < (g.b + 1) * {width} AND p.value = g.hi),
                g.hi
            FROM (SELECT run_id, key, step / {width} AS b, COUNT(*) AS n, MIN(value) AS lo, MAX(value) AS hi
                  FROM metric_points GROUP BY run_id, key, step / {width}) g
            """  # noqa: S608 (the widths are constants)
        )


def downgrade() -> None:
    op.drop_table("metric_rollups")
