"""``taskbot scheduler`` as real processes: killed mid-sweep, and two at once on one store.

Reminders are planned straight into the ledger (due in a moment) for tasks in the embedded
store; the processes deliver them to the Slack stub, where every DM is counted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.backends.local import LocalBackend
from bot.domain.models import Assignee, TaskDraft
from bot.domain.reminders import PlannedReminder
from storage.engine import make_engine, make_sessionmaker
from storage.reminder_ledger import SENT, SqlAlchemyReminderLedger
from storage.tables import ReminderRow
from tests.stubs.slack_api import SlackApiStub, slack_stub

TEAM, TOKEN = "T0SCHED", "xoxb-scheduler-test"
USERS = [f"U{i:03d}" for i in range(12)]
ROOT = Path(__file__).parent.parent.parent


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with slack_stub() as slack:
        slack.add_team(TEAM, TOKEN)
        for user in USERS:
            slack.add_user(TEAM, user, tz="UTC")
        yield slack


def plan_due_reminders(database_url: str, count: int) -> list[str]:
    """One task per person, each with one reminder due in a second; returns the people."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    backend, ledger = LocalBackend(sessions), SqlAlchemyReminderLedger(sessions)
    now = datetime.now(UTC)
    people = USERS[:count]
    for user in people:
        draft = TaskDraft(
            team_id=TEAM,
            assignor="UBOSS",
            title=f"Report for {user}",
            assignees=(Assignee.user(user),),
        )
        task = backend.create(draft, now)
        due = PlannedReminder(user_id=user, offset_seconds=0, at=now + timedelta(seconds=1))
        ledger.replace_pending(TEAM, task.id, [due], handle=task.handle)
    engine.dispose()
    return people


def scheduler(database_url: str, stub: SlackApiStub, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": "unused-by-the-scheduler",
        "SLACK_API_URL": stub.url,
        "DATABASE_URL": database_url,
        "REMINDER_SWEEP_SECONDS": "0.5",
        "REMINDER_LEASE_SECONDS": "2",
        "REMINDER_OFFSETS": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "scheduler"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def reminder_dms(stub: SlackApiStub, user: str) -> list[dict[str, object]]:
    return [m for m in stub.messages(stub.dm_channel(user)) if "Reminder" in str(m["text"])]


def wait_until_all_sent(database_url: str, count: int, timeout: float = 40) -> None:
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                states = list(connection.scalars(select(ReminderRow.state)))
            if len(states) == count and all(s == SENT for s in states):
                return
            time.sleep(0.1)
        raise AssertionError(f"not all reminders sent: {states}")
    finally:
        engine.dispose()


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    return err


def test_a_scheduler_killed_mid_sweep_loses_nothing_and_doubles_nothing(
    database_url: str, stub: SlackApiStub, tmp_path: Path
) -> None:
    people = plan_due_reminders(database_url, 12)  # more than the sweep's 8 parallel senders
    stub.set_delay("chat.postMessage", 0.3)  # each DM takes a while: the kill lands mid-send
    first = scheduler(database_url, stub, tmp_path)
    try:
        stub.wait_for("chat.postMessage", 3, timeout=30)
    finally:
        first.kill()  # SIGKILL: no clean-up of any kind
        first.communicate(timeout=10)
    stub.wait_idle()  # the DMs in flight when it died still reach Slack
    assert 3 <= len(stub.calls("chat.postMessage")) < len(people)

    second = scheduler(database_url, stub, tmp_path)
    try:
        wait_until_all_sent(database_url, len(people))
    finally:
        err = stop(second)
    assert "Traceback" not in err, err
    for user in people:
        assert len(reminder_dms(stub, user)) == 1, user
    # The reminders the dead scheduler had claimed were checked against the DMs before sending.
    assert stub.calls("conversations.history")


def test_two_schedulers_on_one_store_send_each_reminder_once(
    database_url: str, stub: SlackApiStub, tmp_path: Path
) -> None:
    people = plan_due_reminders(database_url, 12)
    stub.set_delay("chat.postMessage", 0.05)
    pair = [scheduler(database_url, stub, tmp_path) for _ in range(2)]
    try:
        wait_until_all_sent(database_url, len(people))
    finally:
        errors = [stop(process) for process in pair]
    assert all("Traceback" not in err for err in errors), errors
    for user in people:
        assert len(reminder_dms(stub, user)) == 1, user
    assert len(stub.calls("chat.postMessage")) == len(people)
