"""When to remind whom: the reminder ladder, per assignee, in their zone and working hours.

Pure: from a task, the pending assignees (with their zone and hours), the offsets of
``REMINDER_OFFSETS`` and the moment of planning, compute the reminder instants. Positive offsets
are before due, ``0`` at due, negative ones after due and repeat while overdue (up to a cap).
A reminder whose instant had already passed when planned is skipped; one that falls outside the
assignee's working hours moves to the next start of working hours, except the at-due reminder
when the due time itself is inside them. Imports only the domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.models import PartState, Task, zone

DEFAULT_REPEAT_CAP = 7  # overdue repeats at most this many times


class WorkingHours(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: time = time(9, 0)
    end: time = time(18, 0)
    days: frozenset[int] = Field(default=frozenset({0, 1, 2, 3, 4}))  # Monday = 0

    def contains(self, moment: datetime, tz: str | None, *, end_included: bool = False) -> bool:
        local = moment.astimezone(zone(tz))
        before_end = local.time() <= self.end if end_included else local.time() < self.end
        return local.weekday() in self.days and self.start <= local.time() and before_end

    def next_start(self, moment: datetime, tz: str | None) -> datetime:
        """The first start of working hours at or after ``moment`` (wall clock, DST-aware)."""
        local = moment.astimezone(zone(tz))
        for ahead in range(0, 8):
            day = local.date() + timedelta(days=ahead)
            if day.weekday() not in self.days:
                continue
            start = datetime.combine(day, self.start, tzinfo=zone(tz))
            if start >= local:
                return start.astimezone(UTC)
            if ahead == 0 and self.contains(moment, tz):
                return moment
        return moment  # no working day configured: leave it where it is

    def shift_into(self, moment: datetime, tz: str | None) -> datetime:
        return moment if self.contains(moment, tz) else self.next_start(moment, tz)


class ReminderKind(StrEnum):
    REMIND = "remind"  # an assignee's deadline reminder
    ESCALATE = "escalate"  # the assignor's one "still pending" DM once overdue long enough
    DIGEST = "digest"  # a person's daily list of open tasks


class ReminderSettings(BaseModel):
    """A person's choices (``/task settings``); the defaults apply until they make any."""

    model_config = ConfigDict(frozen=True)

    hours: WorkingHours = WorkingHours()
    reminders_on: bool = True
    digest_at: time | None = None  # local time of the daily digest; None: no digest


def next_digest(settings: ReminderSettings, tz: str | None, after: datetime) -> datetime | None:
    """The next digest instant after ``after``: the chosen local time on a working day."""
    if settings.digest_at is None or not settings.hours.days:
        return None
    local = after.astimezone(zone(tz))
    for ahead in range(0, 8):
        day = local.date() + timedelta(days=ahead)
        if day.weekday() not in settings.hours.days:
            continue
        at = datetime.combine(day, settings.digest_at, tzinfo=zone(tz))
        if at > local:
            return at.astimezone(UTC)
    return None


def escalation(task: Task, after: timedelta | None, planned_at: datetime) -> PlannedReminder | None:
    """The assignor's DM when the task is still pending ``after`` its due instant."""
    if after is None or task.due is None or not pending_assignee_ids(task):
        return None
    at = task.due.instant() + after
    if at <= planned_at:
        return None
    return PlannedReminder(
        user_id=task.assignor,
        offset_seconds=-int(after.total_seconds()),
        at=at,
        kind=ReminderKind.ESCALATE,
    )


class Recipient(BaseModel):
    """An assignee to remind, with their own zone and working hours."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    part_of: str  # the assignee id of the part (the user, or their group)
    tz: str | None = None
    hours: WorkingHours = WorkingHours()
    enabled: bool = True


class PlannedReminder(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    offset_seconds: int
    at: datetime
    kind: ReminderKind = ReminderKind.REMIND


def pending_assignee_ids(task: Task) -> set[str]:
    """Parts still to do; a completed or deleted task has none to remind."""
    if not task.is_open:
        return set()
    return {p.assignee.id for p in task.parts if p.state is PartState.TODO}


def plan(
    task: Task,
    recipients: Iterable[Recipient],
    offsets: Iterable[timedelta],
    planned_at: datetime,
    *,
    repeat_cap: int = DEFAULT_REPEAT_CAP,
) -> list[PlannedReminder]:
    """Every reminder still to come for the task's pending parts, soonest first."""
    if task.due is None:
        return []
    pending = pending_assignee_ids(task)
    result: dict[tuple[str, datetime], PlannedReminder] = {}
    for person in recipients:
        if not person.enabled or person.part_of not in pending:
            continue
        due = (
            task.due.instant(person.tz, end_of_day=person.hours.end)
            if not task.due.has_time
            else task.due.instant()
        )
        for offset in offsets:
            for nominal in _instants(due, offset, repeat_cap):
                if nominal <= planned_at:
                    continue
                at_due_inside = offset == timedelta(0) and person.hours.contains(
                    due,
                    person.tz,
                    end_included=True,  # "end of the working day" is inside it
                )
                at = nominal if at_due_inside else person.hours.shift_into(nominal, person.tz)
                key = (person.user_id, at)  # two offsets moved to one instant: remind once
                if key not in result:
                    result[key] = PlannedReminder(
                        user_id=person.user_id,
                        offset_seconds=int(offset.total_seconds()),
                        at=at,
                    )
    return sorted(result.values(), key=lambda r: (r.at, r.user_id))


def _instants(due: datetime, offset: timedelta, repeat_cap: int) -> list[datetime]:
    if offset >= timedelta(0):
        return [due - offset]
    step = -offset
    return [due + step * n for n in range(1, repeat_cap + 1)]
