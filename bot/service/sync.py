"""Two-way sync: changes made in a task system's own UI reach Slack's cards and reminders.

Backends that mirror tasks (``Mirroring``) report what changed since taskbot last wrote; each
change is already stored (never over a newer change made in Slack, which wins), so here it is only
told: cards updated in place, assignees and the assignor DMed where the events say so, reminders
re-planned. Imports the domain and the service ports only.
"""

from __future__ import annotations

import logging

from bot.domain.events import EventKind, TaskEvent
from bot.domain.models import Actor, Task
from bot.service.ports import Clock, Mirroring, Notifier, SyncRecorder
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
        recorder: SyncRecorder | None = None,
    ) -> None:
        self._backend = backend
        self._name = name
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
        for before, after in changed:
            if self._reminders is not None:
                try:
                    self._reminders.replan(after)
                except Exception:  # the change is stored; the next change re-plans
                    log.exception("re-planning %s after sync failed", after.handle)
            try:
                self._notifier.notify(events(before, after))
            except Exception:  # cards catch up at the next change
                log.exception("telling Slack about %s failed", after.handle)
        return len(changed)


def events(before: Task, after: Task) -> list[TaskEvent]:
    """What people hear of a change made in the task system (by its assignor's authority)."""
    actor = Actor(team_id=after.team_id, user_id=after.assignor)
    if after.deleted:
        return [TaskEvent(kind=EventKind.DELETED, task=after, actor=actor)]
    if after.is_completed and not before.is_completed:
        return [TaskEvent(kind=EventKind.COMPLETED, task=after, actor=actor)]
    if before.is_completed and not after.is_completed:
        return [TaskEvent(kind=EventKind.REOPENED, task=after, actor=actor)]
    return [TaskEvent(kind=EventKind.EDITED, task=after, actor=actor)]
