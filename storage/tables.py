"""ORM tables. Indexes serve the queries that must stay fast with a million tasks:
open tasks by assignee, by assignor and by due instant (per workspace), reminders by state and
due instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UtcDateTime

ID = 64  # room for UUIDs and every backend's ids
SLACK_ID = 32
SYNC_ERROR_CHARS = 300  # the one line a failed sync pass leaves for `taskbot status`


LIST_UNDATED = datetime(9999, 12, 31, tzinfo=UTC)
"""``list_due`` of an undated task: lists put undated tasks last, and a plain ascending index
then holds them in list order on SQLite (nulls first) as on PostgreSQL (nulls last)."""


def list_due(due_at: datetime | None) -> datetime:
    """Where a task with this due instant sorts in every list (then by handle number)."""
    return LIST_UNDATED if due_at is None else due_at


WHERE = "where"
"""``Index.info`` key of a partial index's WHERE clause (see ``TaskCardRow``)."""


class Base(DeclarativeBase):
    pass


class TaskRow(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    due_date: Mapped[date | None] = mapped_column(Date)
    due_time: Mapped[time | None] = mapped_column(Time)
    due_tz: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    list_due: Mapped[datetime] = mapped_column(UtcDateTime)  # list_due(due_at): the list order
    condition: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    is_open: Mapped[bool] = mapped_column(Boolean)  # not completed and not deleted
    assignor: Mapped[str] = mapped_column(String(SLACK_ID))
    channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    create_key: Mapped[str | None] = mapped_column(String(200))  # dedupes a replayed create

    parts: Mapped[list[PartRow]] = relationship(
        order_by="PartRow.position", cascade="all, delete-orphan", lazy="selectin"
    )
    comments: Mapped[list[CommentRow]] = relationship(
        order_by="CommentRow.position", cascade="all, delete-orphan", lazy="selectin"
    )
    attachments: Mapped[list[AttachmentRow]] = relationship(
        order_by="AttachmentRow.position", cascade="all, delete-orphan", lazy="selectin"
    )

    # Optimistic concurrency: every UPDATE says "WHERE version = <the version I read>".
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}

    __table_args__ = (
        UniqueConstraint("team_id", "number", name="uq_tasks_team_number"),
        UniqueConstraint("create_key", name="uq_tasks_create_key"),
        Index("ix_tasks_team_open_due", "team_id", "is_open", "due_at"),
        # An assignor's (a channel's) open tasks in list order, with the key: a list's page
        # stops after its rows and its count reads the index alone (storage.task_lists).
        Index(
            "ix_tasks_team_assignor_list",
            "team_id",
            "assignor",
            "is_open",
            "list_due",
            "number",
            "id",
        ),
        Index(
            "ix_tasks_team_channel_list",
            "team_id",
            "channel_id",
            "is_open",
            "list_due",
            "number",
            "id",
        ),
    )


class PartRow(Base):
    __tablename__ = "task_parts"

    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    assignee_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    assignee_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(8))
    done_by: Mapped[str | None] = mapped_column(String(SLACK_ID))
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Copies of the task's is_open, list_due and number, written with the task in the same
    # transaction (storage.local_tasks): a person's list is then one range of
    # ix_task_parts_list, already in list order, and its first page reads only that page's rows.
    task_open: Mapped[bool] = mapped_column(Boolean)
    list_due: Mapped[datetime] = mapped_column(UtcDateTime)
    task_number: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index(
            "ix_task_parts_list",
            "team_id",
            "assignee_kind",
            "assignee_id",
            "task_open",
            "list_due",
            "task_number",
            "task_id",
        ),
    )


class CommentRow(Base):
    __tablename__ = "task_comments"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    author: Mapped[str | None] = mapped_column(String(SLACK_ID))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    event: Mapped[str | None] = mapped_column(String(24))
    subjects: Mapped[str] = mapped_column(Text, default="")  # space-separated ids
    origin: Mapped[str | None] = mapped_column(String(40))  # the task system it was made in


class AttachmentRow(Base):
    __tablename__ = "task_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    url: Mapped[str | None] = mapped_column(Text)
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(ID))
    title: Mapped[str] = mapped_column(String(200), default="")


class HandleCounterRow(Base):
    """The last ``T-n`` number given out in a workspace."""

    __tablename__ = "handle_counters"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class TaskCardRow(Base):
    """A Slack message that shows a task, so every copy can be updated in place."""

    __tablename__ = "task_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    task_id: Mapped[str] = mapped_column(String(ID))
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID))
    message_ts: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    # The task version the message shows (at most), and the newest version of its task: a card
    # with shown < wanted is behind, found through ix_task_cards_behind by the card sweep.
    shown_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    wanted_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Who is writing the message now, which version, until when (compare-and-set, see
    # storage.task_cards).
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claim_version: Mapped[int | None] = mapped_column(Integer)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The reader's reminders, at the same task version: a counter bumped when the reader's next
    # reminder changed (one sent, hours re-planned), the count the message shows, and the count
    # the current claim will show. shown < wanted: the card names a reminder that is gone.
    wanted_stamp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shown_stamp: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claim_stamp: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("channel_id", "message_ts", name="uq_task_cards_message"),
        Index("ix_task_cards_team_task", "team_id", "task_id"),
        # Partial indexes: their WHERE clause is in ``info`` and in the migrations (0009, 0010),
        # which are its source of truth, not in ``postgresql_where=``/``sqlite_where=``: SQLAlchemy
        # loads a dialect to check its keywords, and the PostgreSQL package (all its drivers'
        # modules) costs every process 2.4 MB of RSS, on SQLite too. Nothing builds tables from
        # this metadata, and alembic's compare_metadata ignores WHERE clauses, so
        # tests/storage/test_repositories.py checks the migrated clauses against ``info``.
        Index("ix_task_cards_behind", "id", info={WHERE: "shown_version < wanted_version"}),
        Index("ix_task_cards_stamp_behind", "id", info={WHERE: "shown_stamp < wanted_stamp"}),
    )


class UserMapRow(Base):
    """A Slack user or group in a workspace ↔ a task system's assignee id."""

    __tablename__ = "user_map"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    backend: Mapped[str] = mapped_column(String(24), primary_key=True)
    slack_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    assignee_id: Mapped[str] = mapped_column(String(ID))
    how: Mapped[str] = mapped_column(String(8))
    set_by: Mapped[str | None] = mapped_column(String(SLACK_ID))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("team_id", "backend", "kind", "assignee_id", name="uq_user_map_assignee"),
    )


class ReminderRow(Base):
    """One reminder to one assignee, and how far its delivery got."""

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    task_id: Mapped[str] = mapped_column(String(ID))
    handle: Mapped[str] = mapped_column(String(24))
    assignee_id: Mapped[str] = mapped_column(String(ID))
    offset_seconds: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(12))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(12), default="remind", server_default="remind")

    __table_args__ = (
        Index("ix_reminders_state_due", "state", "due_at"),
        Index("ix_reminders_state_expiry", "state", "claim_expires_at"),
        Index("ix_reminders_team_task", "team_id", "task_id", "assignee_id"),
    )


class UserSettingsRow(Base):
    """A person's reminder settings (``/task settings``); absent means the defaults."""

    __tablename__ = "user_settings"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    work_start: Mapped[time] = mapped_column(Time)
    work_end: Mapped[time] = mapped_column(Time)
    work_days: Mapped[str] = mapped_column(String(16))  # "0,1,2,3,4" (Monday = 0)
    reminders_on: Mapped[bool] = mapped_column(Boolean)
    digest_at: Mapped[time | None] = mapped_column(Time)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ExternalVersionRow(Base):
    """The version token a task system gave with a task (Maxsight's ``updated_at``), exactly as
    it came, for the next conditional write (``If-Match``)."""

    __tablename__ = "external_versions"

    task_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))


class OAuthTokenRow(Base):
    """A person's own tokens for a task system (LINE WORKS), sealed by ``bot.backends``."""

    __tablename__ = "oauth_tokens"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    slack_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    backend: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(ID))
    access_token: Mapped[str] = mapped_column(Text)  # sealed
    refresh_token: Mapped[str] = mapped_column(Text)  # sealed
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JobRow(Base):
    """One piece of acknowledged work (or a notification it caused), and how far it got.

    ``key`` makes a replay of the same Slack interaction (or of a change's notifications) land on
    the row that is already there; ``payload`` is the job kind's versioned JSON."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    payload_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("key", name="uq_jobs_key"),
        Index("ix_jobs_state_available", "state", "available_at"),
        Index("ix_jobs_state_expiry", "state", "claim_expires_at"),
    )


class LinkStateRow(Base):
    """A sign-in in progress (``/task link lineworks``): its state, kept as a hash, used once."""

    __tablename__ = "link_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    slack_id: Mapped[str] = mapped_column(String(SLACK_ID))
    backend: Mapped[str] = mapped_column(String(24))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RateBudgetRow(Base):
    """A task API's rate-limit budget, shared by every taskbot process (``storage.rate_budget``):
    the calls that still count and any pause the API asked for, as ``bot.domain.rates.Budget``
    JSON. ``version`` makes each change a conditional update."""

    __tablename__ = "rate_budgets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)


class HomeClaimRow(Base):
    """Who is publishing a person's App Home now: publishes are serialised across processes,
    each built after the claim, so a Home never goes back to an older state."""

    __tablename__ = "home_claims"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    published: Mapped[int] = mapped_column(Integer, default=0)  # publishes so far: its version
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Where the Home's sections are paged to (``bot.slack``'s encoding, opaque here): a
    # refresh after a change publishes the same pages (migration 0014).
    place: Mapped[str | None] = mapped_column(String(300))


class HeartbeatRow(Base):
    """A running worker or scheduler process, beating every few seconds (``storage.heartbeats``):
    readiness and ``taskbot status`` read who is alive from here, not from memory."""

    __tablename__ = "heartbeats"

    process_id: Mapped[str] = mapped_column(String(160), primary_key=True)  # role:host:pid
    role: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SyncRunRow(Base):
    """The last backend-sync pass per task system (``storage.sync_runs``): when, how many tasks
    changed, or the error that ended it; ``taskbot status`` reads it."""

    __tablename__ = "sync_runs"

    backend: Mapped[str] = mapped_column(String(24), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    changed: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(SYNC_ERROR_CHARS))


class SyncMarkRow(Base):
    """Where a task system's sync got to (``storage.sync_marks``): the high-water mark of the
    changes it read (e.g. Paymo's newest ``updated_on``), and the next task of its rotating
    check, kept across passes and processes."""

    __tablename__ = "sync_marks"

    backend: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(ID))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class CommentLinkRow(Base):
    """A comment in a task system and the taskbot comment it is (``storage.comment_links``):
    ``own`` when taskbot wrote it there (never told back to Slack); ``fingerprint`` of its text
    as last read or written, so an edit made there is noticed."""

    __tablename__ = "comment_links"

    backend: Mapped[str] = mapped_column(String(24), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    task_id: Mapped[str] = mapped_column(String(ID))
    comment_id: Mapped[str] = mapped_column(String(ID))
    fingerprint: Mapped[str] = mapped_column(String(64))
    own: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index("ix_comment_links_task", "backend", "task_id"),)


class CommentMessageRow(Base):
    """A Slack thread message that shows a comment, so an edit or deletion made in the task
    system reaches it (``storage.comment_links``)."""

    __tablename__ = "comment_messages"

    channel_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    message_ts: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    comment_id: Mapped[str] = mapped_column(String(ID), index=True)
