"""What happened to a task, for the Notifier port to tell the people concerned."""

from __future__ import annotations

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
    EDITED = "edited"
    DELETED = "deleted"
    CLAIMED = "claimed"


class TaskEvent(BaseModel):
    """One event; ``assignees`` are the ones it is about (assigned, unassigned, done, undone)."""

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    task: Task
    actor: Actor
    assignees: tuple[Assignee, ...] = ()
    comment: Comment | None = None
