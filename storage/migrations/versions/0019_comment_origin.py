"""the task system a comment (an event record) was made in, so a reloaded card still says
"Completed in Struct PIM"

Revision ID: 0019
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_comments") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_comments") as batch:
        batch.drop_column("origin")
