"""Issue 12, finding 1, tried from outside over real HTTP: hostile titles, comments and command
text never reach Slack as live markup, while the people the bot names are still mentioned."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bot.slack import ids
from tests.e2e.conftest import (  # noqa: F401 (fixtures)
    ANA,
    BOSS,
    CHANNEL,
    TEAM,
    Taskbot,
    make_taskbot,
    slack,
    slack_session,
    taskbot,
)
from tests.e2e.test_flows import card_in, create, dm, text_of
from tests.e2e.test_surfaces import form
from tests.security.markup_check import leaks, mrkdwn
from tests.slack_requests import app_home_opened, view_submission
from tests.stubs.slack_api import SlackApiStub

EVIL = "<!channel> <http://evil.example/login|Verify account>"


def sent(stub: SlackApiStub) -> list[str]:
    """Every mrkdwn and message text the bot sent: Web API calls and response_url posts."""
    payloads: list[Any] = []
    for call in stub.calls():
        params = {k: _json(v) for k, v in call.params.items() if k in ("text", "blocks", "view")}
        payloads.append(params)
    payloads.extend(stub.responses())
    return mrkdwn(payloads)


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def assert_nothing_live(stub: SlackApiStub) -> None:
    texts = sent(stub)
    assert texts
    live = [t for t in texts if leaks(t)]
    assert not live, live


@pytest.fixture
def bot(taskbot: Taskbot) -> Taskbot:  # noqa: F811 (the e2e fixture, by name)
    return taskbot


def show(bot: Taskbot, user: str) -> dict[str, Any]:
    bot.command("show T-1", user=user, key=f"show-{user}")
    (reply,) = bot.slack.wait_for_response(f"show-{user}")
    return reply


def home_of(bot: Taskbot, user: str) -> dict[str, Any]:
    before = len(bot.slack.calls("views.publish"))
    assert bot.send(app_home_opened(user, team_id=TEAM)).status_code == 200
    bot.slack.wait_for("views.publish", count=before + 1)
    home = bot.slack.home(user)
    assert home is not None
    return home


def test_a_hostile_title_from_the_modal_is_shown_inert_everywhere(bot: Taskbot) -> None:
    stub = bot.slack
    bot.command("new", key="new")
    stub.wait_for("views.open")
    view = stub.view(stub.last_view_id())
    values = form(title=EVIL)
    values[ids.BLOCK_DESCRIPTION] = {ids.ELEMENT: {"type": "plain_text_input", "value": EVIL}}
    answer = bot.send(
        view_submission(
            ids.VIEW_CREATE,
            values,
            user_id=BOSS,
            team_id=TEAM,
            private_metadata=view["private_metadata"],
            view_id=view["id"],
        )
    )
    assert answer.status_code == 200
    channel_card, ana_card = card_in(stub, CHANNEL), card_in(stub, dm(ANA))
    deadline = time.monotonic() + 5
    while "Created" not in str(stub.view(view["id"])["blocks"]):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    home, reply = home_of(bot, ANA), show(bot, ANA)
    assert "T-1" in str(home["blocks"]) and "T-1" in reply["text"]
    assert_nothing_live(stub)
    assert "&lt;!channel&gt;" in channel_card["text"]  # shown as typed
    assert f"<@{ANA}>" in text_of(channel_card)  # the assignee is still mentioned
    assert f"<@{BOSS}> assigned you" in ana_card["text"]


def test_a_hostile_title_from_task_add_is_shown_inert(bot: Taskbot) -> None:
    stub = bot.slack
    create(bot, f"{EVIL} <@{ANA}|ana>")
    card_in(stub, CHANNEL), card_in(stub, dm(ANA))
    home_of(bot, ANA), show(bot, BOSS)
    assert_nothing_live(stub)
    title = bot.app.backend.get(TEAM, "T-1").title
    assert title == "@channel Verify account (http://evil.example/login)"


def test_a_comment_does_not_ping_the_channel(bot: Taskbot) -> None:
    stub = bot.slack
    create(bot, f"Review the doc <@{ANA}|ana>")
    card = card_in(stub, CHANNEL)
    bot.command("comment T-1 <!channel> <!here> see <http://evil.example|this>", key="c")
    stub.wait_for_response("c")
    deadline = time.monotonic() + 5
    while not (thread := [m for m in stub.messages(CHANNEL) if m.get("thread_ts")]):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert_nothing_live(stub)
    assert thread[0]["thread_ts"] == card["ts"]
    assert thread[0]["text"].startswith(f"<@{BOSS}>: ")  # the author is still named
    assert "@channel @here see this (http://evil.example)" in thread[0]["text"]


def test_a_command_we_do_not_know_is_echoed_inert(bot: Taskbot) -> None:
    answers = [
        bot.command("<script>", key="a"),
        bot.command("&lt;script&gt;", key="b"),  # as Slack sends what was typed
        bot.command("<!channel>", key="c"),
    ]
    texts = [a.text for a in answers]
    assert all("don't know" in t for t in texts), texts
    assert not any(leaks(t) for t in texts), texts
    assert "`/task &lt;script&gt;`" in texts[1]
    bot.command("show <!channel>", key="show")
    (reply,) = bot.slack.wait_for_response("show")
    assert "isn't a task handle" in reply["text"] and not leaks(reply["text"])
