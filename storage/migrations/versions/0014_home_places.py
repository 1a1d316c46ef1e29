"""where each person's App Home sections are paged to, kept with their Home claim

Revision ID: 0014
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("home_claims") as batch:
        batch.add_column(sa.Column("place", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("home_claims") as batch:
        batch.drop_column("place")
