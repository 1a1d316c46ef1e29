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


def pulled_events(before: Task | None, after: Task, system: str, by: str | None) -> list[TaskEvent]:
    """What people hear of a change made in a task system (``system``, its label), told as made
    there, by ``by`` when the system named its linked author: new assignees get the task,
    removed ones hear of it, a completion or reopening is said; any other change (an edit, a
    deletion) updates the cards only. ``before`` None: a task taken in from the system."""
    origin = Origin(system=system, user_id=by)
    actor = Actor(team_id=after.team_id, user_id=by or "")

    def event(kind: EventKind, assignees: tuple[Assignee, ...] = ()) -> TaskEvent:
        return TaskEvent(kind=kind, task=after, actor=actor, assignees=assignees, origin=origin)

    if before is None:
        return [event(EventKind.CREATED)]
    if after.deleted:
        return [event(EventKind.DELETED)]
    told: list[TaskEvent] = []
    added = tuple(a for a in after.assignees if before.part_of(a) is None)
    gone = tuple(a for a in before.assignees if after.part_of(a) is None)
    if added:
        told.append(event(EventKind.ASSIGNED, added))
    if gone:
        told.append(event(EventKind.UNASSIGNED, gone))
    if after.is_completed and not before.is_completed:
        told.append(event(EventKind.COMPLETED))
    elif before.is_completed and not after.is_completed:
        told.append(event(EventKind.REOPENED))
    return told or [event(EventKind.EDITED)]


def only_comments(before: Task | None, after: Task) -> bool:
    """Whether all that changed there is comments (then only they are told)."""
    if before is None:
        return False
    same = {"comments": after.comments, "version": after.version, "updated_at": after.updated_at}
    return before.model_copy(update=same) == after


def comment_events(before: Task | None, after: Task, system: str) -> list[TaskEvent]:
    """People's comments written, edited or deleted in the task system, each told as written
    there by its author (the Slack user linked to the system's author, else someone there)."""
    if before is None or after.deleted:
        return []
    old = {c.id: c for c in before.comments if not c.system}
    new = {c.id: c for c in after.comments if not c.system}
    told: list[TaskEvent] = []

    def tell(kind: EventKind, comment: Comment) -> None:
        told.append(
            TaskEvent(
                kind=kind,
                task=after,
                actor=Actor(team_id=after.team_id, user_id=comment.author or ""),
                comment=comment,
                origin=Origin(system=system, user_id=comment.author),
            )
        )

    for comment in new.values():
        if comment.id not in old:
            tell(EventKind.COMMENTED, comment)
        elif old[comment.id].text != comment.text:
            tell(EventKind.COMMENT_EDITED, comment)
    for comment in old.values():
        if comment.id not in new:
            tell(EventKind.COMMENT_DELETED, comment)
    return told


def told_of_pull(before: Task | None, after: Task, system: str, by: str | None) -> list[TaskEvent]:
    """Everything people hear of one change pulled from a task system: its comments (alone when
    only they changed), after what else changed (``pulled_events``)."""
    said = comment_events(before, after, system)
    if said and only_comments(before, after):
        return said
    return [*pulled_events(before, after, system, by), *said]
