"""reminder kinds (escalation, digest) and per-person reminder settings

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=12), server_default="remind", nullable=False)
        )
    op.create_table(
        "user_settings",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("work_start", sa.Time(), nullable=False),
        sa.Column("work_end", sa.Time(), nullable=False),
        sa.Column("work_days", sa.String(length=16), nullable=False),
        sa.Column("reminders_on", sa.Boolean(), nullable=False),
        sa.Column("digest_at", sa.Time(), nullable=True),
        sa.Column("updated_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("user_settings")
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_column("kind")
