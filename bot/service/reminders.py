"""Keeps the reminder ledger in step with tasks: every change re-plans the task's reminders.

A moved deadline moves its reminders, a part done cancels that person's, a completed or deleted
task cancels all. Group parts remind each member. Imports the domain and the ports only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.domain.errors import DomainError
from bot.domain.models import AssigneeKind, PartState, Task
from bot.domain.reminders import PlannedReminder, Recipient, plan
from bot.service.ports import Clock, Directory, ReminderLedger

log = logging.getLogger(__name__)

SNOOZE_OFFSET = 0  # snoozed reminders are "at" the chosen instant


class ReminderPlanner:
    def __init__(
        self,
        ledger: ReminderLedger,
        directory: Directory,
        clock: Clock,
        offsets: tuple[timedelta, ...],
    ) -> None:
        self._ledger = ledger
        self._directory = directory
        self._clock = clock
        self._offsets = offsets

    def replan(self, task: Task) -> None:
        planned = plan(task, self.recipients(task), self._offsets, self._clock())
        self._ledger.replace_pending(task.team_id, task.id, planned, handle=task.handle)

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
                people.append(
                    Recipient(user_id=user, part_of=part.assignee.id, tz=self._tz(task, user))
                )
        return people

    def _tz(self, task: Task, user: str) -> str | None:
        try:
            return self._directory.person(task.team_id, user).tz
        except DomainError:  # unknown zone: reminders in UTC working hours
            return None

    def snooze(self, task: Task, user_id: str, until: datetime) -> None:
        item = PlannedReminder(user_id=user_id, offset_seconds=SNOOZE_OFFSET, at=until)
        self._ledger.add(task.team_id, task.id, task.handle, item)
