"""Property tests of the reminder plan over random zones (DST ones included), working days and
hours, offsets, due times and planning moments.

Whatever they are: no before-due or at-due reminder is planned after the due; every planned
reminder is inside the person's working hours, except one sent at its nominal instant because
its earlier slot had passed; nothing is planned in the past; and a re-plan later, told what went
out meanwhile, plans exactly what was still to come (nothing twice, nothing lost).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import rules
from bot.domain.models import Assignee, Due, Task, TaskDraft, zone
from bot.domain.reminders import PlannedReminder, Recipient, WorkingHours, plan

ZONES = [
    "UTC",
    "Europe/Oslo",
    "Europe/London",
    "America/New_York",
    "America/St_Johns",  # DST at 00:01 local before 2011, half-hour offset
    "America/Santiago",  # southern DST, changes at midnight
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Tehran",
    "Asia/Kolkata",
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
]
# Around the 2026 DST changes of those zones, so transitions fall inside the plan's week.
AROUND = [
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 4, 5),
    date(2026, 9, 6),
    date(2026, 9, 27),
    date(2026, 10, 4),
    date(2026, 10, 25),
    date(2026, 11, 1),
    date(2026, 12, 2),
]


def minute_of_day(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


@st.composite
def working_hours(draw: st.DrawFn) -> WorkingHours:
    """Any start and later end to the minute (short periods too), on at least one day."""
    start = draw(st.integers(min_value=0, max_value=1438))
    end = draw(st.integers(min_value=start + 1, max_value=1439))
    days = draw(st.frozensets(st.integers(min_value=0, max_value=6), min_size=1))
    return WorkingHours(start=minute_of_day(start), end=minute_of_day(end), days=days)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Task, Recipient, tuple[timedelta, ...], datetime]:
    planned_at = datetime.combine(draw(st.sampled_from(AROUND)), time(), tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(min_value=-3 * 1440, max_value=3 * 1440))
    )
    author_zone = draw(st.sampled_from(ZONES))
    local_now = planned_at.astimezone(zone(author_zone))
    due_local = local_now + timedelta(minutes=draw(st.integers(min_value=1, max_value=9 * 1440)))
    has_time = draw(st.booleans())
    due = Due(
        date=due_local.date(),
        time=due_local.time().replace(second=0, microsecond=0) if has_time else None,
        tz=author_zone,
    )
    minutes = st.integers(min_value=-2 * 1440, max_value=7 * 1440)
    offsets = tuple(
        draw(st.lists(minutes | st.just(0), min_size=1, max_size=4, unique=True).map(sorted))
    )
    person = Recipient(
        user_id="UANA",
        part_of="UANA",
        tz=draw(st.sampled_from(ZONES)),
        hours=draw(working_hours()),
    )
    task = rules.new_task(
        TaskDraft(
            team_id="T1", assignor="UBOSS", title="t", due=due, assignees=(Assignee.user("UANA"),)
        ),
        task_id="x",
        handle="T-1",
        now=planned_at,
    )
    return task, person, tuple(timedelta(minutes=m) for m in offsets), planned_at


def due_of(task: Task, person: Recipient) -> datetime:
    assert task.due is not None
    if task.due.has_time:
        return task.due.instant()
    return task.due.instant(person.tz, end_of_day=person.hours.end)


def sent_at_nominal(
    reminder: PlannedReminder, person: Recipient, due: datetime, planned_at: datetime
) -> bool:
    """Outside working hours only as a before/at-due reminder at its nominal instant, and only
    because the last working moment before it had passed (or there is none)."""
    if reminder.offset_seconds < 0:
        return False
    nominal = due - timedelta(seconds=reminder.offset_seconds)
    slot = person.hours.last_slot_before(nominal, person.tz)
    return reminder.at == nominal and (slot is None or slot <= planned_at)


@settings(max_examples=400, deadline=None)
@given(cases())
def test_never_after_the_due_never_in_the_past_inside_working_hours(
    case: tuple[Task, Recipient, tuple[timedelta, ...], datetime],
) -> None:
    task, person, offsets, planned_at = case
    due = due_of(task, person)
    for reminder in plan(task, [person], offsets, planned_at):
        assert reminder.at > planned_at
        if reminder.offset_seconds >= 0:
            assert reminder.at <= due - timedelta(seconds=reminder.offset_seconds) <= due
        inside = person.hours.contains(reminder.at, person.tz, end_included=True)
        assert inside or sent_at_nominal(reminder, person, due, planned_at)


@settings(max_examples=200, deadline=None)
@given(cases(), st.integers(min_value=1, max_value=10 * 1440))
def test_a_later_replan_plans_exactly_what_was_still_to_come(
    case: tuple[Task, Recipient, tuple[timedelta, ...], datetime], later_minutes: int
) -> None:
    task, person, offsets, planned_at = case
    first = plan(task, [person], offsets, planned_at)
    later = planned_at + timedelta(minutes=later_minutes)
    sent = {(r.user_id, r.at) for r in first if r.at <= later}
    again = plan(task, [person], offsets, later, sent=sent)
    assert {(r.user_id, r.at) for r in again} == {(r.user_id, r.at) for r in first} - sent
