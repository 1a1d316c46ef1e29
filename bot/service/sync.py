"""Two-way sync: changes made in a task system's own UI reach Slack's cards and reminders.

Backends that mirror tasks (``Mirroring``) report what changed since taskbot last wrote, and the
tasks they took in from the system; each change is already stored (never over a newer change made
in Slack, which wins), so here it is only told, as made in the task system (``Origin``): cards
updated in place, assignees and the assignor DMed where the events say so, reminders re-planned.
A change stored with its notification job (``Pulled.notice``, the outbox) is told by that job,
run at once where this process runs jobs, so a crash or a replayed pass never doubles or loses
it. Imports the domain and the service ports only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.domain.events import TaskEvent, pulled_events, told_of_pull
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
        self.deliver_now: Callable[[str], None] | None = None  # runs a queued job in this thread

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
            if change.notice is not None:  # queued with the change: a worker tells it once
                self._deliver(change.notice)
                continue
            told = told_of_pull(change.before, change.after, self._system, change.by)
            try:
                self._notifier.notify(told)
            except Exception:  # cards catch up at the next change
                log.exception("telling Slack about %s failed", after.handle)
        return len(changed)

    def _deliver(self, key: str) -> None:
        """The notification job stored with a change, sent now where this process runs jobs."""
        if self.deliver_now is None:
            return
        try:
            self.deliver_now(key)
        except Exception:  # the job is stored: a worker sends it
            log.exception("notification job %s left to the workers", key)


def events(change: Pulled, system: str) -> list[TaskEvent]:
    """What people hear of a change made in the task system, told as made there (its comments
    aside: ``told_of_pull`` tells both)."""
    return pulled_events(change.before, change.after, system, change.by)
