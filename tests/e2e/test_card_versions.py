"""Cards never go back in time, and cards left behind converge.

Two taskbot instances (two ``build_app`` + HTTP servers) on one PostgreSQL database take
interleaved Done clicks for the same MUST_ALL tasks while the Slack stub answers after random
delays, so updates of one card from both instances cross on the wire; every card must end showing
its task's final state, and every App Home its final lists. Then the card sweep: a task saved
without its cards being updated (as when a process is SIGKILLed between the two) and a failed
chat.update are both repaired.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import rules
from bot.domain.models import Actor, CardKind, PartState
from bot.slack import ids
from bot.slack.blocks.card import task_card
from storage.engine import make_sessionmaker
from storage.job_ledger import SqlAlchemyJobLedger
from storage.local_tasks import SqlAlchemyTaskStore
from storage.tables import TaskCardRow
from tests.e2e.conftest import ANA, BEN, BOSS, CHANNEL, TEAM, Taskbot
from tests.stubs.slack_api import SlackApiStub

TASKS = 12


@pytest.fixture
def postgres_url(postgres_server: str, postgres_template: str) -> Iterator[str]:
    """A fresh migrated PostgreSQL database for this test only."""
    name = f"taskbot_cards_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    try:
        yield postgres_server.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def wait_for_cards(sessions: sessionmaker[Session], count: int, timeout: float = 20) -> None:
    """Cards are posted after the ack; wait until the store has recorded them all."""
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            found = session.scalar(select(func.count()).select_from(TaskCardRow)) or 0
        if found >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{found} of {count} cards recorded")
        time.sleep(0.02)


def wait_jobs_finished(sessions: sessionmaker[Session], timeout: float = 60.0) -> None:
    """Until no job row is pending or claimed: a stopping worker claims nothing more (what
    is still queued waits for the next one), so a test that closes its bots waits first."""
    left = SqlAlchemyJobLedger(sessions).wait_finished(timeout)
    assert not left, f"{left} jobs still queued or running"


def cards_of(sessions: sessionmaker[Session]) -> list[TaskCardRow]:
    with sessions() as session:
        return list(session.scalars(select(TaskCardRow).order_by(TaskCardRow.id)))


def assert_cards_show(bot: Taskbot, sessions: sessionmaker[Session]) -> None:
    """Every recorded card is, in Slack, exactly its task as stored now."""
    store = SqlAlchemyTaskStore(sessions)
    rows = cards_of(sessions)
    assert rows
    for row in rows:
        task = store.load(row.task_id)
        assert task is not None
        expected = task_card(
            task,
            viewer=row.user_id,
            kind=CardKind(row.kind),
            capabilities=bot.app.backend.capabilities,
            now=datetime.now(UTC),
        )
        message = bot.slack.message(row.channel_id, row.message_ts)
        where = f"{task.handle} {row.kind} {row.channel_id}"
        assert message["text"] == expected.text, where
        blocks = json.loads(json.dumps([b.to_dict() for b in expected.blocks]))
        assert message["blocks"] == blocks, where
        assert row.shown_version == task.version, where


def test_interleaved_done_clicks_on_two_instances_leave_every_card_true(
    make_taskbot: Callable[..., Taskbot], slack: SlackApiStub, postgres_url: str
) -> None:
    first = make_taskbot(DATABASE_URL=postgres_url)
    second = make_taskbot(DATABASE_URL=postgres_url, MIGRATE_ON_START=False)
    sessions = make_sessionmaker(first.app.engine)
    for n in range(TASKS):
        answer = first.command(
            f"add Release {n} <@{ANA}|ana> <@{BEN}|ben> all", user=BOSS, key=f"create{n}"
        )
        assert answer.status_code == 200
    wait_for_cards(sessions, 3 * TASKS)  # the channel card and both assignees' DMs, each

    chance = random.Random(17)
    delayed = ("chat.update", "views.publish")
    slack.set_delay_hook(lambda method: chance.uniform(0, 0.12) if method in delayed else 0)
    for n in range(TASKS):
        handle = f"T-{n + 1}"
        # Ana's click reaches one instance and Ben's the other, alternating which goes first.
        pair = [(first, ANA), (second, BEN)] if n % 2 == 0 else [(second, BEN), (first, ANA)]
        for bot, user in pair:
            answer = bot.click(
                ids.ACTION_DONE, ids.encode_ref(handle, 1), user, channel=CHANNEL, ts="0"
            )
            assert answer.status_code == 200
    wait_jobs_finished(sessions)
    for bot in (first, second):
        bot.app.close()  # pending Homes published

    for n in range(TASKS):
        task = first.app.backend.get(TEAM, f"T-{n + 1}")
        assert task.is_completed and all(p.state is PartState.DONE for p in task.parts)
    assert_cards_show(first, sessions)
    for user in (ANA, BEN, BOSS):  # nothing open any more, in anyone's App Home
        home = slack.home(user)
        assert home is not None and "Release" not in json.dumps(home), user


def test_the_card_sweep_brings_cards_left_behind_up_to_date(
    taskbot: Taskbot, slack: SlackApiStub
) -> None:
    assert "card-sweep" in [job.name for job in taskbot.app.jobs()]
    sweep = taskbot.app.card_sweep
    assert sweep is not None
    sessions = taskbot.app.sessions
    for n in range(2):
        answer = taskbot.command(f"add Audit {n} <@{ANA}|ana> all", user=BOSS, key=f"c{n}")
        assert answer.status_code == 200
    wait_for_cards(sessions, 4)
    assert sweep.run_once() == 0

    # T-1 saved, and then the process "died" before touching its cards.
    backend = taskbot.app.backend
    before = backend.get(TEAM, "T-1")
    ana = Actor(team_id=TEAM, user_id=ANA)
    backend.save(rules.set_own_parts(before, ana, PartState.DONE, datetime.now(UTC)), 1)
    # T-2 changed through taskbot, but Slack refused one card update.
    slack.fail_next("chat.update")
    taskbot.command("done T-2", user=ANA, key="done2")
    slack.wait_for_response("done2")
    slack.wait_for("chat.update", 2)  # both of T-2's cards tried, the first one refused
    wait_for_behind(sessions, 3)  # T-1's two cards, and the one T-2 update that failed

    assert sweep.run_once() == 3
    assert sweep.run_once() == 0
    assert_cards_show(taskbot, sessions)


def wait_for_behind(sessions: sessionmaker[Session], count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            rows = list(session.scalars(select(TaskCardRow)))
        behind = sum(1 for r in rows if r.shown_version < r.wanted_version)
        if behind == count and all(r.claim_token is None for r in rows):  # all writes settled
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{behind} cards behind, not {count}")
        time.sleep(0.02)
