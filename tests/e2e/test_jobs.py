"""Persist before ack over real HTTP: a job that can't be written is never a silent "ok"."""

from __future__ import annotations

from sqlalchemy import text

from bot.slack import ids
from tests.e2e.conftest import ANA, CHANNEL, TEAM, Taskbot
from tests.e2e.test_flows import buttons, card_in, create


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
