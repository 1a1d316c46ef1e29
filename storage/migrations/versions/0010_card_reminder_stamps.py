"""task cards record which of their reader's reminder changes they show, so a card is rewritten
at the same task version once its reader's next reminder was sent or re-planned

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BEHIND = "shown_stamp < wanted_stamp"


def upgrade() -> None:
    with op.batch_alter_table("task_cards", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wanted_stamp", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("shown_stamp", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("claim_stamp", sa.Integer(), nullable=True))
    op.create_index(
        "ix_task_cards_stamp_behind",
        "task_cards",
        ["id"],
        unique=False,
        postgresql_where=sa.text(BEHIND),
        sqlite_where=sa.text(BEHIND),
    )


def downgrade() -> None:
    op.drop_index("ix_task_cards_stamp_behind", table_name="task_cards")
    with op.batch_alter_table("task_cards", schema=None) as batch_op:
        batch_op.drop_column("claim_stamp")
        batch_op.drop_column("shown_stamp")
        batch_op.drop_column("wanted_stamp")
