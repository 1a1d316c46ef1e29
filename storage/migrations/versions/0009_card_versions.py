"""task cards record the task version they show, and a claim while one is being written;
App Home publish claims

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BEHIND = "shown_version < wanted_version"


def upgrade() -> None:
    with op.batch_alter_table("task_cards", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shown_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("wanted_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("claim_version", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("claim_expires_at", storage.types.UtcDateTime(timezone=True), nullable=True)
        )
    # Existing cards are taken to show their task as it is now: no re-render storm on upgrade.
    op.execute(
        "UPDATE task_cards SET shown_version = "
        "COALESCE((SELECT version FROM tasks WHERE tasks.id = task_cards.task_id), 0)"
    )
    op.execute("UPDATE task_cards SET wanted_version = shown_version")
    op.create_index(
        "ix_task_cards_behind",
        "task_cards",
        ["id"],
        unique=False,
        postgresql_where=sa.text(BEHIND),
        sqlite_where=sa.text(BEHIND),
    )
    op.create_table(
        "home_claims",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("published", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("claim_expires_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("home_claims")
    op.drop_index("ix_task_cards_behind", table_name="task_cards")
    with op.batch_alter_table("task_cards", schema=None) as batch_op:
        batch_op.drop_column("claim_expires_at")
        batch_op.drop_column("claim_version")
        batch_op.drop_column("claim_token")
        batch_op.drop_column("wanted_version")
        batch_op.drop_column("shown_version")
