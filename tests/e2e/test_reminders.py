"""Reminders end to end: planned on every change, swept from the store, DMed once, snoozed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.domain.models import Actor, Due, TaskEdit
from bot.domain.reminders import ReminderSettings
from bot.reminders.scheduler import Job, build_scheduler
from bot.slack import ids
from tests.e2e.conftest import ADMIN, EVE, TEAM, Taskbot
from tests.e2e.test_flows import buttons, card_in, dm
from tests.fakes import FakeClock

MONDAY_TEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def reminders_to(taskbot: Taskbot, user: str) -> list[dict[str, object]]:
    return [m for m in taskbot.slack.messages(dm(user)) if "Reminder" in str(m["text"])]


def start(make_taskbot: Callable[..., Taskbot], clock: FakeClock) -> Taskbot:
    return make_taskbot(clock=clock, REMINDER_OFFSETS="1h,0")


def create_due_at_eleven(taskbot: Taskbot) -> None:
    # 12:00 in Paris (the assignor's zone) is 11:00 UTC; EVE and ADMIN work in UTC.
    taskbot.command(f"add Send the invoice <@{EVE}> <@{ADMIN}> due:2026-11-23T12:00 all", key="c")
    taskbot.slack.wait_for_response("c")


def test_due_reminder_reaches_each_pending_assignee_once(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = start(make_taskbot, clock)
    create_due_at_eleven(taskbot)
    taskbot.app.service.complete_part(Actor(team_id=TEAM, user_id=EVE), "T-1")
    clock.now = MONDAY_TEN + timedelta(minutes=30)
    assert taskbot.app.sweep.run_once() == 0  # the 1h-before instant had passed at creation
    clock.now = MONDAY_TEN + timedelta(hours=1, seconds=1)
    assert taskbot.app.sweep.run_once() == 1
    assert taskbot.app.sweep.run_once() == 0  # never twice
    assert len(reminders_to(taskbot, ADMIN)) == 1 and reminders_to(taskbot, EVE) == []


def test_snooze_brings_the_reminder_back_later(make_taskbot: Callable[..., Taskbot]) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = start(make_taskbot, clock)
    create_due_at_eleven(taskbot)
    clock.now = MONDAY_TEN + timedelta(hours=1, seconds=1)
    assert taskbot.app.sweep.run_once() == 2
    (reminder,) = reminders_to(taskbot, ADMIN)
    value = buttons(reminder)[ids.ACTION_SNOOZE_HOUR]
    taskbot.click(
        ids.ACTION_SNOOZE_HOUR, value, ADMIN, channel=dm(ADMIN), ts=str(reminder["ts"]), key="z"
    )
    (answer,) = taskbot.slack.wait_for_response("z")
    assert "remind you about *T-1* again" in answer["text"]
    clock.now += timedelta(minutes=59)
    assert taskbot.app.sweep.run_once() == 0
    clock.now += timedelta(minutes=2)
    assert taskbot.app.sweep.run_once() == 1
    assert len(reminders_to(taskbot, ADMIN)) == 2 and len(reminders_to(taskbot, EVE)) == 1


def test_moving_the_due_moves_the_reminders(make_taskbot: Callable[..., Taskbot]) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = start(make_taskbot, clock)
    create_due_at_eleven(taskbot)
    boss = Actor(team_id=TEAM, user_id="UBOSS")
    later = Due(date=MONDAY_TEN.date() + timedelta(days=1), time=MONDAY_TEN.time(), tz="UTC")
    taskbot.app.service.edit(boss, "T-1", TaskEdit(due=later))
    clock.now = MONDAY_TEN + timedelta(hours=1, seconds=1)
    assert taskbot.app.sweep.run_once() == 0
    clock.now = MONDAY_TEN + timedelta(days=1, seconds=1)
    assert taskbot.app.sweep.run_once() == 2  # 1h before and at due collapse into one each


def test_the_scheduler_sweeps_on_its_own(make_taskbot: Callable[..., Taskbot]) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = make_taskbot(clock=clock, REMINDER_OFFSETS="0", REMINDER_SWEEP_SECONDS=0.2)
    create_due_at_eleven(taskbot)
    clock.now = MONDAY_TEN + timedelta(hours=1, seconds=1)
    sweeps = threading.Semaphore(0)  # released at the end of each reminder sweep
    scheduler = build_scheduler([counted(job, sweeps) for job in taskbot.app.jobs()])
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while len(reminders_to(taskbot, EVE)) + len(reminders_to(taskbot, ADMIN)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        while sweeps.acquire(blocking=False):  # the sweeps so far
            pass
        for _ in range(3):  # two whole sweeps more (the first may have begun before)
            assert sweeps.acquire(timeout=10)
    finally:
        scheduler.shutdown(wait=True)
    assert len(reminders_to(taskbot, EVE)) == 1 and len(reminders_to(taskbot, ADMIN)) == 1


def counted(job: Job, ends: threading.Semaphore) -> Job:
    """``job``, releasing ``ends`` each time a reminder sweep finishes."""
    if job.name != "reminder-sweep":
        return job

    def run() -> object:
        try:
            return job.run()
        finally:
            ends.release()

    return replace(job, run=run)


OLA = "UOLA"  # works in Oslo, 09:00–18:00 Monday to Friday (the defaults)


def next_reminder_of(message: dict[str, object]) -> str | None:
    """The "Next reminder" fact of a card, as Slack's date token, or None."""
    for block in message["blocks"]:  # type: ignore[attr-defined]
        for field in block.get("fields") or []:
            if field["text"].startswith("*Next reminder:*"):
                return str(field["text"])
    return None


def reminder_posts(taskbot: Taskbot, user: str) -> list[object]:
    """Reminder DMs posted to a person (a later change updates their text in place)."""
    return [
        call
        for call in taskbot.slack.calls("chat.postMessage")
        if call.params.get("channel") == user and "Reminder" in str(call.params.get("text"))
    ]


def token_of(at: datetime) -> str:
    return f"<!date^{int(at.timestamp())}^"


def test_a_task_due_in_a_minute_after_hours_reminds_at_the_due(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    # Issue 16: 18:27 in Oslo on a Wednesday, a task due 18:28 with REMINDER_OFFSETS=0 was
    # reminded at 09:00 the next morning. Now: at the due, and the DM card says so.
    due = datetime(2026, 12, 2, 17, 28, tzinfo=UTC)  # 18:28 in Oslo and in Paris (the boss's)
    clock = FakeClock(due - timedelta(minutes=1))
    taskbot = make_taskbot(clock=clock, REMINDER_OFFSETS="0")
    taskbot.slack.add_user(TEAM, OLA, tz="Europe/Oslo", name="ola")
    taskbot.command(f"add Sign the contract <@{OLA}> due:2026-12-02T18:28", key="c")
    taskbot.slack.wait_for_response("c")
    assigned = card_in(taskbot.slack, dm(OLA))
    assert token_of(due) in str(next_reminder_of(assigned))

    assert taskbot.app.sweep.run_once() == 0
    clock.now = due + timedelta(seconds=1)
    assert taskbot.app.sweep.run_once() == 1
    (reminder,) = reminders_to(taskbot, OLA)
    assert next_reminder_of(reminder) is None  # no more to come


def test_a_task_due_monday_eight_reminds_friday_afternoon(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    # Due Monday 08:00 in Oslo: 24 h before, 1 h before and at due all move back to Friday
    # 17:30 and go out once; the reminder DM names the next one, the overdue one on Tuesday.
    wednesday = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)  # 17:30 in Oslo
    tuesday = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 in Oslo, the first overdue one
    clock = FakeClock(wednesday)
    taskbot = make_taskbot(clock=clock, REMINDER_OFFSETS="24h,1h,0,-1d")
    taskbot.slack.add_user(TEAM, OLA, tz="Europe/Oslo", name="ola")
    taskbot.command(f"add File the report <@{OLA}> due:2026-11-30T08:00", key="c")
    taskbot.slack.wait_for_response("c")
    assert token_of(friday) in str(next_reminder_of(card_in(taskbot.slack, dm(OLA))))
    taskbot.command("show T-1", user=OLA, key="s")  # the card only Ola sees says it too
    (shown,) = taskbot.slack.wait_for_response("s")
    assert token_of(friday) in str(next_reminder_of(shown))

    clock.now = friday - timedelta(seconds=1)
    assert taskbot.app.sweep.run_once() == 0
    clock.now = friday + timedelta(seconds=1)
    assert taskbot.app.sweep.run_once() == 1
    (reminder,) = reminders_to(taskbot, OLA)
    assert token_of(tuesday) in str(next_reminder_of(reminder))
    # A change over the weekend re-plans; what went out on Friday does not come again.
    taskbot.app.service.comment(Actor(team_id=TEAM, user_id="UBOSS"), "T-1", "Any news?")
    clock.now = datetime(2026, 11, 30, 7, 0, 1, tzinfo=UTC)  # Monday 08:00 in Oslo
    assert taskbot.app.sweep.run_once() == 0
    clock.now = tuesday + timedelta(seconds=1)
    assert taskbot.app.sweep.run_once() == 2  # Ola's overdue reminder and the escalation
    assert len(reminder_posts(taskbot, OLA)) == 2  # Friday's and Tuesday's, none on Monday


def own_card(taskbot: Taskbot, user: str) -> dict[str, object]:
    """The card a person got when assigned (not a reminder DM), as Slack shows it now."""
    for message in taskbot.slack.messages(dm(user)):
        is_card = any(b.get("type") == "header" for b in message["blocks"])
        if is_card and "Reminder" not in str(message["text"]):
            return message
    raise AssertionError(f"no card in {dm(user)}")


def updates_in(taskbot: Taskbot, channel: str) -> int:
    return sum(1 for c in taskbot.slack.calls("chat.update") if c.params["channel"] == channel)


def test_after_a_reminder_the_assignees_card_names_the_next_one(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    # Builder's gap in issue 16: the assignee's card kept naming the reminder just sent, since
    # the task had not changed (cards are compare-and-set on the task version).
    clock = FakeClock(MONDAY_TEN - timedelta(hours=2))
    taskbot = start(make_taskbot, clock)
    taskbot.command(f"add Send the invoice <@{EVE}> due:2026-11-23T12:00", key="c")
    taskbot.slack.wait_for_response("c")
    card_in(taskbot.slack, dm(EVE))
    assert token_of(MONDAY_TEN) in str(next_reminder_of(own_card(taskbot, EVE)))
    calls = len(taskbot.slack.calls())
    clock.now = MONDAY_TEN + timedelta(seconds=1)
    assert taskbot.app.sweep.run_once() == 1
    eleven = MONDAY_TEN + timedelta(hours=1)
    assert token_of(eleven) in str(next_reminder_of(own_card(taskbot, EVE)))
    # One reminder: its DM and one update of the reader's own card, nothing else.
    assert updates_in(taskbot, dm(EVE)) == 1
    assert [c.method for c in taskbot.slack.calls()[calls:]] == ["chat.postMessage", "chat.update"]
    clock.now = eleven + timedelta(seconds=1)
    assert taskbot.app.sweep.run_once() == 1
    assert next_reminder_of(own_card(taskbot, EVE)) is None  # none left to come
    assert updates_in(taskbot, dm(EVE)) == 2
    assert taskbot.app.card_sweep is not None and taskbot.app.card_sweep.run_once() == 0


def test_saved_settings_rewrite_the_persons_card(make_taskbot: Callable[..., Taskbot]) -> None:
    clock = FakeClock(MONDAY_TEN - timedelta(hours=2))
    taskbot = start(make_taskbot, clock)
    taskbot.command(f"add Send the invoice <@{EVE}> due:2026-11-23T12:00", key="c")
    taskbot.slack.wait_for_response("c")
    card_in(taskbot.slack, dm(EVE))
    assert next_reminder_of(own_card(taskbot, EVE)) is not None
    eve = Actor(team_id=TEAM, user_id=EVE)
    taskbot.app.service.save_reminder_settings(eve, ReminderSettings(reminders_on=False))
    assert next_reminder_of(own_card(taskbot, EVE)) is None
    assert updates_in(taskbot, dm(EVE)) == 1
