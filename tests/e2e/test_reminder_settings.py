"""``/task settings``, the daily digest and the assignor's overdue escalation, end to end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from time import monotonic, sleep
from typing import Any

from bot.domain.models import Actor
from bot.domain.reminders import ReminderSettings
from bot.slack import ids
from tests.e2e.conftest import ADMIN, BOSS, EVE, TEAM, Taskbot
from tests.e2e.test_flows import dm
from tests.e2e.test_reminders import MONDAY_TEN, create_due_at_eleven, reminders_to
from tests.fakes import FakeClock
from tests.slack_requests import view_submission


def settings_form(
    *, start: str, end: str, days: list[int], on: bool = True, digest: str | None = None
) -> dict[str, Any]:
    def picked(block: str, **state: Any) -> tuple[str, dict[str, Any]]:
        return block, {ids.ELEMENT: state}

    return dict(
        [
            picked(ids.BLOCK_REMINDERS_ON, selected_option={"value": "on" if on else "off"}),
            picked(ids.BLOCK_WORK_START, selected_time=start),
            picked(ids.BLOCK_WORK_END, selected_time=end),
            picked(ids.BLOCK_WORK_DAYS, selected_options=[{"value": str(d)} for d in days]),
            picked(ids.BLOCK_DIGEST_AT, selected_time=digest),
        ]
    )


def dms_with(taskbot: Taskbot, user: str, text: str) -> list[dict[str, Any]]:
    return [m for m in taskbot.slack.messages(dm(user)) if text in str(m["text"])]


def wait_for_dm(taskbot: Taskbot, user: str, text: str) -> list[dict[str, Any]]:
    deadline = monotonic() + 5
    while not (found := dms_with(taskbot, user, text)):
        assert monotonic() < deadline, f"no DM to {user} with {text!r}"
        sleep(0.02)
    return found


def test_settings_modal_moves_reminders_into_my_hours(make_taskbot: Callable[..., Taskbot]) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = make_taskbot(clock=clock, REMINDER_OFFSETS="0")
    slack = taskbot.slack
    # 20:00 in Paris is 19:00 UTC: after Eve's default working hours (09:00–18:00 UTC).
    taskbot.command(f"add Close the books <@{EVE}> due:2026-11-23T20:00", key="c")
    slack.wait_for_response("c")

    assert taskbot.command("settings", user=EVE).status_code == 200
    opened = slack.wait_for("views.open")[-1].params
    view = (
        opened["view"]
        if isinstance(opened["view"], dict)
        else __import__("json").loads(opened["view"])
    )
    assert view["callback_id"] == ids.VIEW_SETTINGS
    assert "09:00" in str(view["blocks"]) and "18:00" in str(view["blocks"])
    assert "a task due Monday 08:00 is reminded Friday 17:30" in str(view["blocks"])

    refused = taskbot.send(
        view_submission(
            ids.VIEW_SETTINGS,
            settings_form(start="09:00", end="08:00", days=[]),
            user_id=EVE,
            team_id=TEAM,
        )
    ).json()
    assert refused["response_action"] == "errors"
    assert set(refused["errors"]) == {ids.BLOCK_WORK_END, ids.BLOCK_WORK_DAYS}
    assert taskbot.app.service.reminder_settings(Actor(team_id=TEAM, user_id=EVE)) == (
        ReminderSettings()
    )

    accepted = taskbot.send(
        view_submission(
            ids.VIEW_SETTINGS,
            settings_form(start="09:00", end="22:00", days=[0, 1, 2, 3, 4], digest="08:30"),
            user_id=EVE,
            team_id=TEAM,
        )
    )
    assert accepted.status_code == 200 and not accepted.content  # the modal closes
    (saved,) = wait_for_dm(taskbot, EVE, "Saved")
    assert "09:00–22:00" in saved["text"] and "digest at 08:30" in saved["text"]

    clock.now = datetime(2026, 11, 23, 19, 0, 1, tzinfo=UTC)
    assert taskbot.app.sweep.run_once() == 1  # at due now, not tomorrow at 09:00
    assert len(reminders_to(taskbot, EVE)) == 1


def test_daily_digest_lists_my_open_tasks_each_working_morning(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = make_taskbot(clock=clock, REMINDER_OFFSETS="0")
    eve = Actor(team_id=TEAM, user_id=EVE)
    taskbot.app.service.save_reminder_settings(eve, ReminderSettings(digest_at=time(8, 30)))
    taskbot.command(f"add Renew the domain <@{EVE}> due:2026-12-31", key="c")
    taskbot.slack.wait_for_response("c")

    clock.now = datetime(2026, 11, 24, 8, 29, tzinfo=UTC)
    assert taskbot.app.sweep.run_once() == 0
    clock.now = datetime(2026, 11, 24, 8, 30, 1, tzinfo=UTC)
    assert taskbot.app.sweep.run_once() == 1
    (digest,) = dms_with(taskbot, EVE, "daily digest")
    assert "T-1" in str(digest["blocks"]) and "Renew the domain" in str(digest["blocks"])
    assert taskbot.app.sweep.run_once() == 0  # once a day

    clock.now = datetime(2026, 11, 25, 8, 30, 1, tzinfo=UTC)
    assert taskbot.app.sweep.run_once() == 1
    assert len(dms_with(taskbot, EVE, "daily digest")) == 2

    taskbot.app.service.save_reminder_settings(eve, ReminderSettings(digest_at=None))
    clock.now = datetime(2026, 11, 26, 8, 30, 1, tzinfo=UTC)
    assert taskbot.app.sweep.run_once() == 0  # turned off


def test_assignor_hears_once_who_is_still_pending_when_overdue(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = make_taskbot(clock=clock, REMINDER_OFFSETS="0", REMINDER_ESCALATE_AFTER="1h")
    create_due_at_eleven(taskbot)  # Eve and Admin, MUST_ALL, due 11:00 UTC
    taskbot.app.service.complete_part(Actor(team_id=TEAM, user_id=EVE), "T-1")

    clock.now = MONDAY_TEN + timedelta(hours=1, seconds=1)
    assert taskbot.app.sweep.run_once() == 1  # Admin's at-due reminder
    assert dms_with(taskbot, BOSS, "overdue") == []
    clock.now = MONDAY_TEN + timedelta(hours=2, seconds=1)
    assert taskbot.app.sweep.run_once() == 1
    (escalation,) = dms_with(taskbot, BOSS, "overdue")
    assert f"<@{ADMIN}>" in escalation["text"] and f"<@{EVE}>" not in escalation["text"]
    assert taskbot.app.sweep.run_once() == 0


def test_no_escalation_once_the_task_is_done(make_taskbot: Callable[..., Taskbot]) -> None:
    clock = FakeClock(MONDAY_TEN)
    taskbot = make_taskbot(clock=clock, REMINDER_OFFSETS="0", REMINDER_ESCALATE_AFTER="1h")
    create_due_at_eleven(taskbot)
    for user in (EVE, ADMIN):
        taskbot.app.service.complete_part(Actor(team_id=TEAM, user_id=user), "T-1")
    clock.now = MONDAY_TEN + timedelta(hours=3)
    assert taskbot.app.sweep.run_once() == 0
    assert dms_with(taskbot, BOSS, "overdue") == []
