"""project names are unique per owner, not over the server: a 409 no longer tells one user another's names

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:10:00.000000

projects.owner_id names the user whose namespace the project's name lives in: its creator (NULL for
projects made with auth off). Projects from before take their first owner among the members. The unique
index is on (coalesce(owner_id, 0), name), so projects without an owner still have unique names.

On SQLite the old UNIQUE(name) is part of the table definition, so the table is copied (batch mode); the
migration runner turns foreign keys off around it (server/migrate.py), or dropping the old table would
cascade to every run.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("projects", naming_convention=SQLITE_NAMES, recreate="always") as batch:
            batch.drop_constraint("uq_projects_name", type_="unique")
            batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
            batch.create_foreign_key("fk_projects_owner", "users", ["owner_id"], ["id"], ondelete="SET NULL")
    else:
        op.drop_constraint("projects_name_key", "projects", type_="unique")
        op.add_column("projects", sa.Column("owner_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_projects_owner", "projects", "users", ["owner_id"], ["id"], ondelete="SET NULL"
        )
    op.execute(
        "UPDATE projects SET owner_id = (SELECT min(user_id) FROM project_members "
        "WHERE project_members.project_id = projects.id AND project_members.role = 'owner')"
    )
    op.create_index(
        "uq_projects_owner_name", "projects", [sa.text("coalesce(owner_id, 0)"), "name"], unique=True
    )


def downgrade() -> None:
    # Names may now repeat across owners: the newer of two namesakes gets its id appended.
    op.drop_index("uq_projects_owner_name", table_name="projects")
    op.execute(
        "UPDATE projects SET name = substr(name, 1, 180) || ' (' || id || ')' WHERE id NOT IN "
        "(SELECT min(id) FROM projects GROUP BY name)"
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("projects", naming_convention=SQLITE_NAMES, recreate="always") as batch:
            batch.drop_constraint("fk_projects_owner", type_="foreignkey")
            batch.drop_column("owner_id")
            batch.create_unique_constraint("uq_projects_name", ["name"])
    else:
        op.drop_constraint("fk_projects_owner", "projects", type_="foreignkey")
        op.drop_column("projects", "owner_id")
        op.create_unique_constraint("projects_name_key", "projects", ["name"])
