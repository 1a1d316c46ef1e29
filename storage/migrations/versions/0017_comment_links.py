"""comments both ways: task-system comment ↔ taskbot comment, and the Slack messages showing it

Revision ID: 0017
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comment_links",
        sa.Column("backend", sa.String(length=24), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("comment_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("own", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("backend", "external_id"),
    )
    op.create_index("ix_comment_links_task", "comment_links", ["backend", "task_id"])
    op.create_table(
        "comment_messages",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("comment_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "message_ts"),
    )
    op.create_index(op.f("ix_comment_messages_comment_id"), "comment_messages", ["comment_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_comment_messages_comment_id"), table_name="comment_messages")
    op.drop_table("comment_messages")
    op.drop_index("ix_comment_links_task", table_name="comment_links")
    op.drop_table("comment_links")
