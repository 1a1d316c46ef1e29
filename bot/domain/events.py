"""What happened to a task, for the Notifier port to tell the people concerned."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain.models import Actor, Assignee, Comment, Task


class EventKind(StrEnum):
    CREATED = "created"
    ASSIGNED = "assigned"
    UNASSIGNED = "unassigned"
    PART_DONE = "part_done"
    PART_UNDONE = "part_undone"
    COMPLETED = "completed"
    REOPENED = "reopened"
    COMMENTED = "commented"
    COMMENT_EDITED = "comment_edited"  # in a task system: the comment's thread messages follow
    COMMENT_DELETED = "comment_deleted"
    EDITED = "edited"
    DELETED = "deleted"
    CLAIMED = "claimed"


class Origin(BaseModel):
    """Where a change was made when it was not made in Slack: a task system (its label, as
    people know it, e.g. "Struct PIM"), and the Slack user its author is linked to, when the
    system says who it was. People are told the change was made there, never that the task's
    assignor made it."""

    model_config = ConfigDict(frozen=True)

    system: str
    user_id: str | None = None


class TaskEvent(BaseModel):
    """One event; ``assignees`` are the ones it is about (assigned, unassigned, done, undone).

    ``origin`` is set for changes pulled from a task system; then ``actor.user_id`` is the
    linked author, or "" when the system doesn't say who made the change."""

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    task: Task
    actor: Actor
    assignees: tuple[Assignee, ...] = ()
    comment: Comment | None = None
    origin: Origin | None = None


NOTICE_KIND = "notify"
"""The job kind of a change's notifications (the outbox), queued with the change itself."""


@dataclass(frozen=True)
class Effect:
    """A change that must happen once per ``key`` (the Slack interaction it answers).

    The store applies it at most once per key and, in the same transaction, queues the job that
    tells people about it (``notice(saved task)`` gives that job's JSON payload), so neither a
    replay nor a crash right after the save can double or lose the notifications."""

    key: str
    notice: Callable[[Task], str]

    @property
    def notice_key(self) -> str:
        return notice_key(self.key)


def notice_key(key: str) -> str:
    """The key of the notification job a keyed change queues."""
    return f"{NOTICE_KIND}:{key}"


class Notice(BaseModel):
    """The payload of a notification job: the events a change caused, in order."""

    version: int = 1
    events: list[TaskEvent]
