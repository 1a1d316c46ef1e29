"""Persist before ack over real HTTP: a job that can't be written is never a silent "ok"."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import text

from bot.slack import ids
from storage.engine import make_sessionmaker
from storage.job_ledger import SqlAlchemyJobLedger
from tests.e2e.conftest import ANA, CHANNEL, TEAM, Taskbot
from tests.e2e.test_flows import buttons, card_in, create
from tests.slack_requests import app_home_opened, block_action


def test_a_command_whose_job_cant_be_saved_says_so_in_the_ack(taskbot: Taskbot) -> None:
    with taskbot.app.engine.begin() as connection:  # the ledger is gone: every write fails
        connection.execute(text("DROP TABLE jobs"))
    answer = taskbot.command("list")
    assert answer.status_code == 200
    assert "couldn't save that" in answer.text


def test_a_click_whose_job_cant_be_saved_is_answered_with_the_reason(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"Sweep the floor <@{ANA}|ana>")
    card = card_in(slack, CHANNEL)
    with taskbot.app.engine.begin() as connection:
        connection.execute(text("DROP TABLE jobs"))
    taskbot.click(
        ids.ACTION_DONE, buttons(card)[ids.ACTION_DONE], ANA, channel=CHANNEL, ts=card["ts"]
    )
    (reply,) = slack.wait_for_response("click")
    assert "couldn't save that" in reply["text"]
    assert taskbot.app.backend.get(TEAM, "T-1").done_count == 0


def test_an_event_is_answered_only_once_its_job_is_written(taskbot: Taskbot) -> None:
    """Events are acknowledged after their listener has written the job: a 200 means the row
    is there, and a job that can't be written is not a 200, so Slack delivers it again."""
    assert taskbot.send(app_home_opened(ANA, team_id=TEAM)).status_code == 200
    keys = SqlAlchemyJobLedger(make_sessionmaker(taskbot.app.engine)).states()
    assert [key for key in keys if key.startswith("publish-home:")]
    with taskbot.app.engine.begin() as connection:
        connection.execute(text("DROP TABLE jobs"))
    assert taskbot.send(app_home_opened(ANA, team_id=TEAM)).status_code >= 500


def test_a_modal_opens_after_the_ack_which_never_waits_for_slack(taskbot: Taskbot) -> None:
    """Bolt answers when the listener returns; opening the modal is after-ack work, so a
    views.open that hangs leaves the ack alone (it used to be the listener's own call)."""
    opening, release = threading.Event(), threading.Event()

    def hold_views_open(method: str) -> float:
        if method == "views.open":
            opening.set()
            release.wait(30)
        return 0.0

    taskbot.slack.set_delay_hook(hold_views_open)
    try:
        answer = taskbot.command("new Water the plants")
        assert answer.status_code == 200
        assert opening.wait(30)  # the modal was still being opened when Slack had its answer
    finally:
        release.set()
        taskbot.slack.set_delay_hook(None)
    (opened,) = taskbot.slack.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == ids.VIEW_CREATE


def test_a_listener_that_fails_after_its_ack_keeps_the_ack(taskbot: Taskbot) -> None:
    """Bolt answers when the listener returns, and answers 500 if it raised, even after the
    ack: work that was saved would look failed to the person."""

    def acks_then_fails(ack: Any) -> None:
        ack()
        raise RuntimeError("after the ack")

    taskbot.app.slack.bolt.action("test_acks_then_fails")(acks_then_fails)
    answer = taskbot.send(block_action("test_acks_then_fails", "x", user_id=ANA, team_id=TEAM))
    assert answer.status_code == 200
