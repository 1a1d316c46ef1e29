"""Reminders end to end: planned on every change, swept from the store, DMed once, snoozed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.domain.models import Actor, Due, TaskEdit
from bot.reminders.scheduler import build_scheduler
from bot.slack import ids
from tests.e2e.conftest import ADMIN, EVE, TEAM, Taskbot
from tests.e2e.test_flows import buttons, dm
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
    scheduler = build_scheduler(taskbot.app.jobs())
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while len(reminders_to(taskbot, EVE)) + len(reminders_to(taskbot, ADMIN)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # more sweeps, nothing more sent
    finally:
        scheduler.shutdown(wait=True)
    assert len(reminders_to(taskbot, EVE)) == 1 and len(reminders_to(taskbot, ADMIN)) == 1
