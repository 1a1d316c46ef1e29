"""Two-way sync: changes made in a task system's own UI reach Slack's cards and reminders.

Backends that mirror tasks (``Mirroring``) report what changed since taskbot last wrote, and the
tasks they took in from the system; each change is already stored (never over a newer change made
in Slack, which wins), so here it is only told, as made in the task system (``Origin``): cards
updated in place, assignees and the assignor DMed where the events say so, reminders re-planned.
Imports the domain and the service ports only.
"""

from __future__ import annotations

import logging

from bot.domain.events import EventKind, Origin, TaskEvent
from bot.domain.models import Actor, Comment
from bot.service.ports import Clock, Mirroring, Notifier, Pulled, SyncRecorder
from bot.service.reminders import ReminderPlanner

log = logging.getLogger(__name__)


class BackendSync:
    def __init__(
        self,
        backend: Mirroring,
        notifier: Notifier,
        clock: Clock,
        reminders: ReminderPlanner | None = None,
        *,
        name: str = "",
        system: str = "",
        recorder: SyncRecorder | None = None,
    ) -> None:
        self._backend = backend
        self._name = name
        self._system = system or name
        self._recorder = recorder
        self._notifier = notifier
        self._clock = clock
        self._reminders = reminders

    def run_once(self) -> int:
        """One pass, recorded with its outcome; returns how many tasks changed in the system."""
        try:
            changed = self._pass()
        except Exception as exc:
            self._record(None, f"{type(exc).__name__}: {exc}")
            raise
        self._record(changed, None)
        return changed

    def _record(self, changed: int | None, error: str | None) -> None:
        if self._recorder is None:
            return
        try:
            self._recorder.record(self._name, self._clock(), changed, error)
        except Exception:  # the pass itself is what matters; status shows the older record
            log.exception("recording the sync pass of %s failed", self._name)

    def _pass(self) -> int:
        changed = self._backend.pull(self._clock())
        for change in changed:
            after = change.after
            if self._reminders is not None:
                try:
                    self._reminders.replan(after)
                except Exception:  # the change is stored; the next change re-plans
                    log.exception("re-planning %s after sync failed", after.handle)
            said = comment_events(change, self._system)
            told = (
                said if said and only_comments(change) else [*events(change, self._system), *said]
            )
            try:
                self._notifier.notify(told)
            except Exception:  # cards catch up at the next change
                log.exception("telling Slack about %s failed", after.handle)
        return len(changed)


def events(change: Pulled, system: str) -> list[TaskEvent]:
    """What people hear of a change made in the task system, told as made there."""
    before, after = change.before, change.after
    origin = Origin(system=system, user_id=change.by)
    actor = Actor(team_id=after.team_id, user_id=change.by or "")

    def event(kind: EventKind) -> list[TaskEvent]:
        return [TaskEvent(kind=kind, task=after, actor=actor, origin=origin)]

    if before is None:
        return event(EventKind.CREATED)
    if after.deleted:
        return event(EventKind.DELETED)
    if after.is_completed and not before.is_completed:
        return event(EventKind.COMPLETED)
    if before.is_completed and not after.is_completed:
        return event(EventKind.REOPENED)
    return event(EventKind.EDITED)


def only_comments(change: Pulled) -> bool:
    """Whether all that changed there is comments (then only they are told)."""
    before, after = change.before, change.after
    if before is None:
        return False
    same = {"comments": after.comments, "version": after.version, "updated_at": after.updated_at}
    return before.model_copy(update=same) == after


def comment_events(change: Pulled, system: str) -> list[TaskEvent]:
    """People's comments written, edited or deleted in the task system, each told as written
    there by its author (the Slack user linked to the system's author, else someone there)."""
    before, after = change.before, change.after
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
