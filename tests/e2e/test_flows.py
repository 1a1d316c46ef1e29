"""The flows a person goes through, over real HTTP with signed requests."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.domain.models import Status
from bot.slack import ids
from tests.e2e.conftest import ANA, BEN, BOSS, CARL, CHANNEL, EVE, TEAM, Taskbot
from tests.slack_requests import slash_command
from tests.stubs.slack_api import SlackApiStub


def dm(user: str) -> str:
    return "D" + user[1:]


def card_in(slack: SlackApiStub, channel: str, timeout: float = 5.0) -> dict[str, Any]:
    """The task card last posted in a channel, waiting for it: cards are posted after the ack."""
    deadline = time.monotonic() + timeout
    while True:
        for message in reversed(slack.messages(channel)):
            is_card = any(b.get("type") == "header" for b in message["blocks"])
            if is_card and not message.get("thread_ts"):
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no card in {channel}: {slack.messages(channel)}")
        time.sleep(0.02)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action_id → value of every button on a message."""
    return {
        element["action_id"]: element.get("value", "")
        for block in message["blocks"]
        if block.get("type") == "actions"
        for element in block["elements"]
    }


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"])


def create(taskbot: Taskbot, text: str, user: str = BOSS) -> None:
    answer = taskbot.command(f"add {text}", user=user, key="create")
    assert answer.status_code == 200
    (reply,) = taskbot.slack.wait_for_response("create")
    assert "Created *T-" in reply["text"], reply


def test_must_all_needs_every_assignee(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"Ship the release <@{ANA}|ana> <@{BEN}|ben> due:tomorrow all")
    channel_card = card_in(slack, CHANNEL)
    ana_card, ben_card = card_in(slack, dm(ANA)), card_in(slack, dm(BEN))
    assert "0 of 2 done" in text_of(channel_card)
    assert set(buttons(ana_card)) >= {ids.ACTION_DONE, ids.ACTION_COMMENT}

    taskbot.click(
        ids.ACTION_DONE,
        buttons(ana_card)[ids.ACTION_DONE],
        ANA,
        channel=dm(ANA),
        ts=ana_card["ts"],
    )
    slack.wait_for("chat.update", 3)  # channel card and both DMs
    task = taskbot.app.backend.get(TEAM, "T-1")
    assert task.status is Status.IN_PROGRESS and task.done_count == 1
    assert "1 of 2 done" in text_of(slack.message(CHANNEL, channel_card["ts"]))
    progress = [m for m in slack.messages(dm(BOSS)) if "1 of 2 done" in m["text"]]
    assert progress and f"<@{ANA}> done" in progress[0]["text"]
    assert f"<@{BEN}> pending" in progress[0]["text"]

    taskbot.click(
        ids.ACTION_DONE,
        buttons(channel_card)[ids.ACTION_DONE],
        BEN,
        channel=CHANNEL,
        ts=channel_card["ts"],
    )
    slack.wait_for("chat.update", 6)
    assert taskbot.app.backend.get(TEAM, "T-1").status is Status.COMPLETED
    for channel, ts in (
        (CHANNEL, channel_card["ts"]),
        (dm(ANA), ana_card["ts"]),
        (dm(BEN), ben_card["ts"]),
    ):
        updated = slack.message(channel, ts)
        assert "Completed by" in text_of(updated)
        assert buttons(updated) == {}
    assert any("is completed" in m["text"] for m in slack.messages(dm(BOSS)))


def test_any_one_completes_at_the_first_done(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"Answer the client <@{ANA}> <@{BEN}> any")
    ana_card, ben_card = card_in(slack, dm(ANA)), card_in(slack, dm(BEN))
    taskbot.click(
        ids.ACTION_DONE,
        buttons(ana_card)[ids.ACTION_DONE],
        ANA,
        channel=dm(ANA),
        ts=ana_card["ts"],
    )
    slack.wait_for("chat.update", 3)
    assert taskbot.app.backend.get(TEAM, "T-1").status is Status.COMPLETED
    ben_now = slack.message(dm(BEN), ben_card["ts"])
    assert buttons(ben_now) == {}
    assert f"Completed by <@{ANA}>" in text_of(ben_now)


def test_non_participant_is_refused_and_nothing_changes(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"Private thing <@{ANA}>")
    card = card_in(slack, CHANNEL)
    before = taskbot.app.backend.get(TEAM, "T-1")
    updates = len(slack.calls("chat.update"))
    answer = taskbot.click(
        ids.ACTION_DONE,
        buttons(card)[ids.ACTION_DONE],
        EVE,
        channel=CHANNEL,
        ts=card["ts"],
        key="eve",
    )
    assert answer.status_code == 200
    (reply,) = slack.wait_for_response("eve")
    assert "not an assignee of T-1" in reply["text"]
    assert reply["response_type"] == "ephemeral"
    assert taskbot.app.backend.get(TEAM, "T-1") == before
    assert len(slack.calls("chat.update")) == updates


def test_group_part_is_done_by_any_member(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, "Rotate the keys <!subteam^SOPS|@ops>")
    carl_card = card_in(slack, dm(CARL))
    card_in(slack, dm(ANA))  # every member was told
    taskbot.click(
        ids.ACTION_DONE,
        buttons(carl_card)[ids.ACTION_DONE],
        CARL,
        channel=dm(CARL),
        ts=carl_card["ts"],
    )
    slack.wait_for("chat.update", 2)
    task = taskbot.app.backend.get(TEAM, "T-1")
    assert task.status is Status.COMPLETED
    assert task.parts[0].done_by == CARL


def test_comment_goes_to_the_cards_thread(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"Review the doc <@{ANA}>")
    card = card_in(slack, CHANNEL)
    taskbot.command("comment T-1 looks good to me", user=ANA, key="comment")
    slack.wait_for_response("comment")
    threaded = [m for m in slack.messages(CHANNEL) if m.get("thread_ts") == card["ts"]]
    assert threaded and "looks good to me" in threaded[0]["text"]


def test_bad_signature_and_stale_timestamp_are_refused(taskbot: Taskbot) -> None:
    request = slash_command(
        "list",
        user_id=BOSS,
        team_id=TEAM,
        channel_id=CHANNEL,
        response_url=taskbot.slack.response_url_for("x"),
    )
    assert taskbot.client.send(request, bad_signature=True).status_code == 401
    assert taskbot.client.send(request, stale=True).status_code == 401
    assert taskbot.client.send(request).status_code == 200
