"""people's own task-system tokens (sealed)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_tokens",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("slack_id", sa.String(length=32), nullable=False),
        sa.Column("backend", sa.String(length=24), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("expires_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "slack_id", "backend"),
    )


def downgrade() -> None:
    op.drop_table("oauth_tokens")
