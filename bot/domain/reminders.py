"""When to remind whom: the reminder ladder, per assignee, in their zone and working hours.

Pure: from a task, the pending assignees (with their zone and hours), the offsets of
``REMINDER_OFFSETS`` and the moment of planning, compute the reminder instants. Positive offsets
are before due, ``0`` at due, negative ones after due and repeat while overdue (up to a cap).
A reminder whose instant had already passed when planned is skipped (an overdue one: its
instant once moved into working hours).

Before-due and at-due reminders never come after the deadline they warn about: one that falls
outside the assignee's working hours moves EARLIER, to the end of their previous working period
less ``EARLY_MARGIN`` (the period's start when it is shorter than that). If that moment had
already passed when planned, the reminder keeps its nominal instant (the person is evidently
around and the deadline is near), unless it was already delivered at that moment. After-due
(overdue) reminders move to the next start of working hours. Imports only the domain.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.models import PartState, Task, zone

DEFAULT_REPEAT_CAP = 7  # overdue repeats at most this many times
EARLY_MARGIN = timedelta(minutes=30)  # a moved reminder comes this long before the working end


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
            if start >= local and self.contains(start, tz):  # not a period DST made vanish
                return start.astimezone(UTC)
            if ahead == 0 and self.contains(moment, tz):
                return moment
        return moment  # no working day configured: leave it where it is

    def shift_into(self, moment: datetime, tz: str | None) -> datetime:
        return moment if self.contains(moment, tz) else self.next_start(moment, tz)

    def last_slot_before(
        self, moment: datetime, tz: str | None, margin: timedelta = EARLY_MARGIN
    ) -> datetime | None:
        """The last working moment before ``moment``: the end of the previous working period
        less ``margin``, or its start when the period is shorter; None without working days.

        A period that a DST jump makes vanish (or leaves no room) is passed over for the one
        before it, so the answer is always inside working hours.
        """
        local = moment.astimezone(zone(tz))
        for back in range(0, 8):
            day = local.date() - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            start = datetime.combine(day, self.start, tzinfo=zone(tz)).astimezone(UTC)
            end = datetime.combine(day, self.end, tzinfo=zone(tz)).astimezone(UTC)
            if end > moment:
                continue  # that day's period is not over yet at ``moment``
            for slot in (max(start, end - margin), start):
                if slot <= moment and self.contains(slot, tz, end_included=True):
                    return slot
        return None


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
    sent: Collection[tuple[str, datetime]] = frozenset(),
    margin: timedelta = EARLY_MARGIN,
) -> list[PlannedReminder]:
    """Every reminder still to come for the task's pending parts, soonest first.

    ``sent`` holds (person, instant) of the task's reminders already delivered (or being
    delivered): a re-plan after a moved reminder's earlier slot must not send it again.
    """
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
                at = (
                    overdue_instant(person, nominal, planned_at, sent)
                    if offset < timedelta(0)
                    else warning_instant(person, nominal, planned_at, sent, margin)
                )
                if at is None:
                    continue
                key = (person.user_id, at)  # two offsets moved to one instant: remind once
                if key not in result:
                    result[key] = PlannedReminder(
                        user_id=person.user_id,
                        offset_seconds=int(offset.total_seconds()),
                        at=at,
                    )
    return sorted(result.values(), key=lambda r: (r.at, r.user_id))


def warning_instant(
    person: Recipient,
    nominal: datetime,
    planned_at: datetime,
    sent: Collection[tuple[str, datetime]] = frozenset(),
    margin: timedelta = EARLY_MARGIN,
) -> datetime | None:
    """When a before-due or at-due reminder goes out: never after ``nominal``.

    Inside working hours (their end included: "end of the working day" is inside it) it stays;
    outside, it moves to the last working moment before it. When that moment has passed, the
    nominal instant, unless the reminder was delivered then. None: nothing (more) to send.
    """
    if nominal <= planned_at:
        return None
    if person.hours.contains(nominal, person.tz, end_included=True):
        return nominal
    slot = person.hours.last_slot_before(nominal, person.tz, margin)
    if slot is None:  # no working day at all: nowhere earlier to go
        return nominal
    if slot > planned_at:
        return slot
    if (person.user_id, slot) in sent:
        return None  # it went out at its earlier slot already
    return nominal


def overdue_instant(
    person: Recipient,
    nominal: datetime,
    planned_at: datetime,
    sent: Collection[tuple[str, datetime]] = frozenset(),
) -> datetime | None:
    """An overdue reminder waits for the next start of working hours. Whether it is still to
    come is judged by that moved instant, so a re-plan on a Sunday keeps Saturday's repeat
    that is due on Monday morning (unless it already went out)."""
    at = person.hours.shift_into(nominal, person.tz)
    if at <= planned_at or (person.user_id, at) in sent:
        return None
    return at


EXAMPLE_WEEK = date(2026, 11, 23)  # a Monday; UTC has no DST, so wall times read as they are


def early_example(hours: WorkingHours) -> tuple[datetime, datetime] | None:
    """A worked case of the rule for ``/task settings``: (due, when its reminder comes).

    A task due an hour before the first working day after days off starts (Monday 08:00 with
    the defaults) is reminded at the end of the previous working day (Friday 17:30).
    """
    week = [EXAMPLE_WEEK + timedelta(days=n) for n in range(7)]
    working = [d for d in week if d.weekday() in hours.days]
    if not working:
        return None
    first = next((d for d in working if (d.weekday() - 1) % 7 not in hours.days), working[0])
    due = datetime.combine(first, hours.start, tzinfo=UTC) - timedelta(hours=1)
    if hours.contains(due, None, end_included=True):
        return None
    slot = hours.last_slot_before(due, None)
    return (due, slot) if slot is not None else None


def _instants(due: datetime, offset: timedelta, repeat_cap: int) -> list[datetime]:
    if offset >= timedelta(0):
        return [due - offset]
    step = -offset
    return [due + step * n for n in range(1, repeat_cap + 1)]
