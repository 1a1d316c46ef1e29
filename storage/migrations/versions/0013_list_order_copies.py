"""lists read in list order from an index: tasks.list_due (due instant, undated last) and, on
task_parts, copies of the task's open state, list_due and number, backfilled here

A person's first page is then a range of ix_task_parts_list (ix_tasks_team_assignor_list for the
tasks they assigned) read in order and stopped after the page, instead of every open task of
theirs read and sorted.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0013"
down_revision = "0018"
branch_labels = None
depends_on = None

# storage.tables.LIST_UNDATED as each database stores it. The defaults only fill the existing
# rows; PostgreSQL drops them afterwards (SQLite cannot without rebuilding ``tasks``, which
# other tables reference), and the store writes every column itself.
UNDATED = {"postgresql": "'9999-12-31 00:00:00+00'", "sqlite": "'9999-12-31 00:00:00.000000'"}
NEW_COLUMNS = {
    "tasks": ["list_due"],
    "task_parts": ["task_open", "list_due", "task_number"],
}
OLD_INDEXES = {
    "ix_tasks_team_assignor_open_due": ("tasks", ["team_id", "assignor", "is_open", "due_at"]),
    "ix_tasks_team_channel_open": ("tasks", ["team_id", "channel_id", "is_open"]),
    "ix_task_parts_assignee": (
        "task_parts",
        ["team_id", "assignee_kind", "assignee_id", "task_id"],
    ),
}
NEW_INDEXES = {
    "ix_tasks_team_assignor_list": (
        "tasks",
        ["team_id", "assignor", "is_open", "list_due", "number", "id"],
    ),
    "ix_tasks_team_channel_list": (
        "tasks",
        ["team_id", "channel_id", "is_open", "list_due", "number", "id"],
    ),
    "ix_task_parts_list": (
        "task_parts",
        [
            "team_id",
            "assignee_kind",
            "assignee_id",
            "task_open",
            "list_due",
            "task_number",
            "task_id",
        ],
    ),
}


def upgrade() -> None:
    """Old indexes dropped first and new ones built last: the backfill maintains none of them."""
    dialect = op.get_bind().dialect.name
    for name in OLD_INDEXES:
        op.drop_index(name, table_name=OLD_INDEXES[name][0])
    undated = sa.text(UNDATED[dialect])
    due = storage.types.UtcDateTime(timezone=True)
    op.add_column("tasks", sa.Column("list_due", due, nullable=False, server_default=undated))
    for column in (
        sa.Column("task_open", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("list_due", due, nullable=False, server_default=undated),
        sa.Column("task_number", sa.Integer(), nullable=False, server_default="0"),
    ):
        op.add_column("task_parts", column)
    op.execute("UPDATE tasks SET list_due = due_at WHERE due_at IS NOT NULL")
    op.execute(
        "UPDATE task_parts SET (task_open, list_due, task_number) = "
        "(SELECT is_open, list_due, number FROM tasks WHERE tasks.id = task_parts.task_id)"
    )
    if dialect == "postgresql":
        for table, columns in NEW_COLUMNS.items():
            for name in columns:
                op.alter_column(table, name, server_default=None)
    for name, (table, columns) in NEW_INDEXES.items():
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, (table, _columns) in NEW_INDEXES.items():
        op.drop_index(name, table_name=table)
    for name, (table, columns) in OLD_INDEXES.items():
        op.create_index(name, table, columns, unique=False)
    for table, names in NEW_COLUMNS.items():
        for name in names:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
