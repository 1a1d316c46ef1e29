"""The reminder policy with a fixed clock: zones, DST, working hours, pending parts only."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot.domain import rules
from bot.domain.models import Actor, Assignee, CompletionCondition, Due, PartState, TaskDraft
from bot.domain.reminders import (
    Recipient,
    ReminderKind,
    ReminderSettings,
    WorkingHours,
    early_example,
    escalation,
    next_digest,
    plan,
)

CREATED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday
LADDER = (timedelta(hours=24), timedelta(hours=1), timedelta(0), timedelta(days=-1))


def task(due: Due, condition: CompletionCondition = CompletionCondition.MUST_ALL, *users: str):  # type: ignore[no-untyped-def]
    draft = TaskDraft(
        team_id="T1",
        assignor="UBOSS",
        title="t",
        due=due,
        condition=condition,
        assignees=tuple(Assignee.user(u) for u in users or ("UANA", "UBEN")),
    )
    return rules.new_task(draft, task_id="x", handle="T-1", now=CREATED)


def person(user: str, tz: str = "UTC", **fields: object) -> Recipient:
    return Recipient(user_id=user, part_of=user, tz=tz, **fields)  # type: ignore[arg-type]


def test_ladder_before_at_and_after_due() -> None:
    t = task(
        Due(date=date(2026, 11, 25), time=time(15, 0), tz="UTC"),
        CompletionCondition.MUST_ALL,
        "UANA",
    )
    reminders = plan(t, [person("UANA")], LADDER, CREATED, repeat_cap=2)
    assert [(r.offset_seconds, r.at) for r in reminders] == [
        (86400, datetime(2026, 11, 24, 15, tzinfo=UTC)),
        (3600, datetime(2026, 11, 25, 14, tzinfo=UTC)),
        (0, datetime(2026, 11, 25, 15, tzinfo=UTC)),
        (-86400, datetime(2026, 11, 26, 15, tzinfo=UTC)),
        (-86400, datetime(2026, 11, 27, 15, tzinfo=UTC)),
    ]


def test_passed_instants_are_skipped() -> None:
    t = task(
        Due(date=date(2026, 11, 23), time=time(10, 30), tz="UTC"),
        CompletionCondition.MUST_ALL,
        "UANA",
    )
    assert [r.offset_seconds for r in plan(t, [person("UANA")], LADDER[:3], CREATED)] == [3600, 0]


def test_only_pending_parts_are_reminded() -> None:
    t = task(Due(date=date(2026, 11, 25), time=time(15, 0)))
    t = rules.set_own_parts(t, Actor(team_id="T1", user_id="UANA"), PartState.DONE, CREATED)
    people = [person("UANA"), person("UBEN")]
    assert {r.user_id for r in plan(t, people, LADDER, CREATED)} == {"UBEN"}
    done = rules.set_own_parts(
        task(Due(date=date(2026, 11, 25), time=time(15, 0)), CompletionCondition.ANY_ONE),
        Actor(team_id="T1", user_id="UANA"),
        PartState.DONE,
        CREATED,
    )
    assert plan(done, people, LADDER, CREATED) == []


def test_outside_working_hours_moves_earlier_in_the_assignees_zone() -> None:
    # 07:00 Tokyo on Wednesday: the 24h-before reminder (Tuesday 07:00) moves back to Monday
    # 17:30, the end of the previous working day less the 30-minute margin.
    t = task(
        Due(date=date(2026, 11, 25), time=time(7, 0), tz="Asia/Tokyo"),
        CompletionCondition.MUST_ALL,
        "UANA",
    )
    (before, *_rest) = plan(t, [person("UANA", "Asia/Tokyo")], (timedelta(hours=24),), CREATED)
    assert before.at == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # Monday 17:30 Tokyo


def test_weekend_moves_to_monday_and_at_due_inside_hours_stays() -> None:
    friday_five = Due(date=date(2026, 11, 27), time=time(17, 0), tz="Europe/Paris")
    t = task(friday_five, CompletionCondition.MUST_ALL, "UANA")
    reminders = plan(
        t,
        [person("UANA", "Europe/Paris")],
        (timedelta(0), timedelta(hours=-24)),
        CREATED,
        repeat_cap=1,
    )
    assert reminders[0].at == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # at due, inside hours
    assert reminders[1].at == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Saturday → Monday 09:00


def test_date_only_means_end_of_the_assignees_working_day() -> None:
    t = task(Due(date=date(2026, 11, 25)), CompletionCondition.MUST_ALL, "UANA", "UBEN")
    people = [
        person("UANA", "Asia/Tokyo"),
        person("UBEN", "America/New_York", hours=WorkingHours(end=time(17))),
    ]
    at_due = {r.user_id: r.at for r in plan(t, people, (timedelta(0),), CREATED)}
    assert at_due == {
        "UANA": datetime(2026, 11, 25, 9, 0, tzinfo=UTC),  # 18:00 Tokyo
        "UBEN": datetime(2026, 11, 25, 22, 0, tzinfo=UTC),  # 17:00 New York
    }


def test_dst_change_keeps_local_working_hours() -> None:
    # Europe/Berlin leaves summer time on 2026-10-25: 09:00 local is 07:00 UTC before, 08:00 after.
    created = datetime(2026, 10, 22, 8, tzinfo=UTC)
    due = Due(date=date(2026, 10, 26), time=time(8, 0), tz="Europe/Berlin")
    t = rules.new_task(
        TaskDraft(
            team_id="T1", assignor="UB", title="t", due=due, assignees=(Assignee.user("UANA"),)
        ),
        task_id="x",
        handle="T-1",
        now=created,
    )
    at_due, overdue = plan(
        t, [person("UANA", "Europe/Berlin")], (timedelta(0), timedelta(days=-1)), created
    )[:2]
    assert at_due.at == datetime(2026, 10, 23, 15, 30, tzinfo=UTC)  # back to Friday 17:30 CEST
    assert overdue.at == datetime(2026, 10, 27, 8, 0, tzinfo=UTC)  # Tuesday 09:00 CET


def test_two_offsets_moved_to_one_instant_remind_once_and_disabled_people_never() -> None:
    t = task(
        Due(date=date(2026, 11, 24), time=time(8, 0), tz="UTC"),
        CompletionCondition.MUST_ALL,
        "UANA",
    )
    reminders = plan(t, [person("UANA")], (timedelta(hours=2), timedelta(hours=1)), CREATED)
    assert len(reminders) == 1 and reminders[0].at == datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
    assert plan(t, [person("UANA", enabled=False)], LADDER, CREATED) == []


def test_digest_comes_at_the_local_time_on_working_days_across_dst() -> None:
    settings = ReminderSettings(digest_at=time(8, 0))
    friday_evening = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)
    # Saturday and Sunday are skipped; Monday 30 March 08:00 in Berlin is summer time (UTC+2).
    assert next_digest(settings, "Europe/Berlin", friday_evening) == datetime(
        2026, 3, 30, 6, 0, tzinfo=UTC
    )
    thursday_morning = datetime(2026, 3, 26, 6, 0, tzinfo=UTC)  # 07:00 winter time in Berlin
    assert next_digest(settings, "Europe/Berlin", thursday_morning) == datetime(
        2026, 3, 26, 7, 0, tzinfo=UTC
    )
    assert next_digest(ReminderSettings(), "Europe/Berlin", friday_evening) is None


def test_escalation_only_for_pending_parts_and_only_in_the_future() -> None:
    due = Due(date=date(2026, 11, 23), time=time(12, 0), tz="UTC")
    open_task = task(due, CompletionCondition.MUST_ALL, "UANA", "UBEN")
    before = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    planned = escalation(open_task, timedelta(hours=24), before)
    assert planned is not None
    assert planned.user_id == open_task.assignor and planned.kind is ReminderKind.ESCALATE
    assert planned.at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert escalation(open_task, None, before) is None  # turned off
    assert escalation(open_task, timedelta(hours=1), datetime(2026, 11, 24, tzinfo=UTC)) is None
    done = rules.complete_task(open_task, Actor(team_id="T1", user_id="UBOSS"), before)
    assert escalation(done, timedelta(hours=24), before) is None


OSLO = "Europe/Oslo"  # working hours 09:00-18:00, Monday to Friday (the defaults)


def test_due_in_a_minute_after_hours_reminds_at_the_due_not_next_morning() -> None:
    # Issue 16: at 18:27 in Oslo on Wednesday a task due 18:28 with REMINDER_OFFSETS=0 was
    # reminded at 09:00 the next morning. Its earlier slot (17:30) has passed: at the due.
    now = datetime(2026, 12, 2, 17, 27, tzinfo=UTC)
    t = rules.new_task(
        TaskDraft(
            team_id="T1",
            assignor="UBOSS",
            title="t",
            due=Due(date=date(2026, 12, 2), time=time(18, 28), tz=OSLO),
            assignees=(Assignee.user("UANA"),),
        ),
        task_id="x",
        handle="T-1",
        now=now,
    )
    (reminder,) = plan(t, [person("UANA", OSLO)], (timedelta(0),), now)
    assert reminder.at == datetime(2026, 12, 2, 17, 28, tzinfo=UTC)  # 18:28 Oslo, the due


def test_due_monday_eight_reminds_friday_afternoon_once() -> None:
    # The 24h, 1h and at-due reminders all fall outside working hours: each moves back to
    # Friday 17:30 (18:00 less the 30-minute margin), and they land there as one.
    t = task(Due(date=date(2026, 11, 30), time=time(8, 0), tz=OSLO), CompletionCondition.ANY_ONE)
    (reminder,) = plan(t, [person("UANA", OSLO)], LADDER[:3], CREATED)
    assert reminder.at == datetime(2026, 11, 27, 16, 30, tzinfo=UTC)  # Friday 17:30 Oslo


def test_a_replan_after_the_early_reminder_went_out_sends_nothing_more() -> None:
    t = task(Due(date=date(2026, 11, 30), time=time(8, 0), tz=OSLO), CompletionCondition.ANY_ONE)
    people = [person("UANA", OSLO)]
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert plan(t, people, LADDER[:3], saturday, sent={("UANA", friday)}) == []
    # Not sent at Friday 17:30 (assigned on Saturday): each comes at its nominal instant.
    assert [r.at for r in plan(t, people, LADDER[:3], saturday)] == [
        datetime(2026, 11, 29, 7, 0, tzinfo=UTC),  # Sunday 08:00, 24 h before
        datetime(2026, 11, 30, 6, 0, tzinfo=UTC),  # Monday 07:00, 1 h before
        datetime(2026, 11, 30, 7, 0, tzinfo=UTC),  # Monday 08:00, at the due
    ]


def test_a_working_period_shorter_than_the_margin_reminds_at_its_start() -> None:
    short = WorkingHours(start=time(9, 0), end=time(9, 20))
    t = task(Due(date=date(2026, 11, 24), time=time(12, 0), tz="UTC"), CompletionCondition.ANY_ONE)
    (reminder,) = plan(t, [person("UANA", hours=short)], (timedelta(0),), CREATED)
    assert reminder.at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_an_overdue_repeat_moved_to_monday_survives_a_sunday_replan() -> None:
    # Due Friday 17:00, repeating daily: Saturday's and Sunday's repeats move to Monday 09:00
    # (as one). A re-plan on Sunday, after their nominal instants, keeps that; once sent, not.
    t = task(Due(date=date(2026, 11, 27), time=time(17, 0), tz="UTC"), CompletionCondition.ANY_ONE)
    sunday = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    monday_nine = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    monday_five = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    daily = (timedelta(days=-1),)
    assert [r.at for r in plan(t, [person("UANA")], daily, sunday, repeat_cap=3)] == [
        monday_nine,
        monday_five,
    ]
    sent = {("UANA", monday_nine)}
    assert [r.at for r in plan(t, [person("UANA")], daily, sunday, repeat_cap=3, sent=sent)] == [
        monday_five
    ]


def test_the_settings_example_is_friday_afternoon_with_the_defaults() -> None:
    assert early_example(WorkingHours()) == (
        datetime(2026, 11, 23, 8, 0, tzinfo=UTC),  # Monday 08:00
        datetime(2026, 11, 20, 17, 30, tzinfo=UTC),  # Friday 17:30
    )
    assert early_example(WorkingHours(days=frozenset())) is None
