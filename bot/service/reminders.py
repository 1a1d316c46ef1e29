"""Keeps the reminder ledger in step with tasks: every change re-plans the task's reminders.

A moved deadline moves its reminders, a part done cancels that person's, a completed or deleted
task cancels all. Group parts remind each member. Imports the domain and the ports only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.domain.errors import DomainError
from bot.domain.models import AssigneeKind, PartState, Task
from bot.domain.reminders import (
    PlannedReminder,
    Recipient,
    ReminderKind,
    ReminderSettings,
    escalation,
    next_digest,
    plan,
)
from bot.service.ports import Clock, Directory, ReminderLedger, UserSettingsStore

log = logging.getLogger(__name__)

SNOOZE_OFFSET = 0  # snoozed reminders are "at" the chosen instant


class ReminderPlanner:
    def __init__(
        self,
        ledger: ReminderLedger,
        directory: Directory,
        clock: Clock,
        offsets: tuple[timedelta, ...],
        *,
        settings: UserSettingsStore | None = None,
        escalate_after: timedelta | None = None,
    ) -> None:
        self._ledger = ledger
        self._directory = directory
        self._clock = clock
        self._offsets = offsets
        self._settings = settings
        self._escalate_after = escalate_after

    def replan(self, task: Task) -> None:
        now = self._clock()
        sent = self._ledger.sent_instants(task.team_id, task.id)
        planned = plan(task, self.recipients(task), self._offsets, now, sent=sent)
        escalate = escalation(task, self._escalate_after, now)
        if escalate is not None:
            planned.append(escalate)
        self._ledger.replace_pending(task.team_id, task.id, planned, handle=task.handle)

    def next_reminder(self, team_id: str, task_id: str, user_id: str) -> datetime | None:
        """The person's next deadline reminder for the task (shown on their own cards)."""
        return self._ledger.next_reminder(team_id, task_id, user_id)

    def settings_of(self, team_id: str, user_id: str) -> ReminderSettings:
        found = self._settings.get(team_id, user_id) if self._settings is not None else None
        return found or ReminderSettings()

    def save_settings(self, team_id: str, user_id: str, settings: ReminderSettings) -> list[str]:
        """Store them and plan the next digest; returns the handles of tasks to re-plan."""
        if self._settings is None:
            raise RuntimeError("no settings store configured")
        self._settings.put(team_id, user_id, settings, self._clock())
        self.plan_digest(team_id, user_id, settings)
        return self._ledger.pending_handles(team_id, user_id)

    def plan_digest(
        self, team_id: str, user_id: str, settings: ReminderSettings | None = None
    ) -> None:
        """The person's next digest (after now), or none when they have it off."""
        chosen = settings or self.settings_of(team_id, user_id)
        tz = self._tz(team_id, user_id)
        at = next_digest(chosen, tz, self._clock())
        item = (
            PlannedReminder(user_id=user_id, offset_seconds=0, at=at, kind=ReminderKind.DIGEST)
            if at is not None
            else None
        )
        self._ledger.replace_digest(team_id, user_id, item)

    def recipients(self, task: Task) -> list[Recipient]:
        people: list[Recipient] = []
        for part in task.parts:
            if part.state is not PartState.TODO:
                continue
            if part.assignee.kind is AssigneeKind.USER:
                members: frozenset[str] | list[str] = [part.assignee.id]
            else:
                try:
                    members = self._directory.group_members(task.team_id, part.assignee.id)
                except DomainError:
                    members = []
            for user in sorted(members):
                chosen = self.settings_of(task.team_id, user)
                people.append(
                    Recipient(
                        user_id=user,
                        part_of=part.assignee.id,
                        tz=self._tz(task.team_id, user),
                        hours=chosen.hours,
                        enabled=chosen.reminders_on,
                    )
                )
        return people

    def _tz(self, team_id: str, user: str) -> str | None:
        try:
            return self._directory.person(team_id, user).tz
        except DomainError:  # unknown zone: reminders in UTC working hours
            return None

    def snooze(self, task: Task, user_id: str, until: datetime) -> None:
        item = PlannedReminder(user_id=user_id, offset_seconds=SNOOZE_OFFSET, at=until)
        self._ledger.add(task.team_id, task.id, task.handle, item)
