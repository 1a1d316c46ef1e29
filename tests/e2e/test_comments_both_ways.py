"""Comments both ways over signed HTTP, on Paymo and on Struct PIM: a comment written there shows
in the card's thread after one sync pass, attributed to the linked person; an edit there updates
that message and a deletion removes it; a comment written in Slack reaches the task system and
the next pass does not post it again."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import ANA, BEN, BOSS, CHANNEL, TEAM, Taskbot
from tests.e2e.test_flows import card_in, create
from tests.stubs.paymo_api import paymo_simulator
from tests.stubs.slack_api import SlackApiStub
from tests.stubs.struct_pim_api import struct_pim_simulator


@dataclass
class System:
    """One task system behind taskbot, and how its own UI writes comments."""

    label: str
    settings: dict[str, Any]
    ids: dict[str, str]  # Slack user → the system's user id
    add: Callable[[str, str], str]  # (author's id there, text) → comment id
    edit: Callable[[str, str], None]
    delete: Callable[[str], None]
    texts: Callable[[], list[str]]


@pytest.fixture(params=["paymo", "struct_pim"])
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    if request.param == "paymo":
        with paymo_simulator("paymo-key") as paymo:
            ids = {ANA: "241185", BEN: "241186", BOSS: "241100"}
            for user, number in ids.items():
                paymo.add_user(int(number), f"{user.lower()}@example.com")

            def task() -> int:
                (found,) = paymo.tasks
                return found

            yield System(
                "Paymo",
                {
                    "TASK_BACKEND": "paymo",
                    "PAYMO_API_URL": paymo.url,
                    "PAYMO_API_KEY": "paymo-key",
                    "PAYMO_PROJECT_ID": 7001,
                },
                ids,
                lambda author, text: str(paymo.add_comment(task(), int(author), as_html(text))),
                lambda cid, text: paymo.edit_comment(int(cid), as_html(text)),
                lambda cid: paymo.delete_comment(int(cid)),
                lambda: paymo._task_comments(task()),
            )
    else:
        with struct_pim_simulator("struct-key") as struct:
            ids = {ANA: "12", BEN: "5", BOSS: "3"}
            for user, uid in ids.items():
                struct.add_user(uid, f"{user.lower()}@example.com")

            def uid() -> str:
                (found,) = struct.tasks
                return found

            yield System(
                "Struct PIM",
                {
                    "TASK_BACKEND": "struct_pim",
                    "STRUCT_PIM_API_URL": struct.url,
                    "STRUCT_PIM_API_KEY": "struct-key",
                },
                ids,
                lambda author, text: struct.add_comment(uid(), author, text),
                lambda cid, text: struct.edit_comment(uid(), cid, text),
                lambda cid: struct.delete_comment(uid(), cid),
                lambda: [c["Comment"] for c in struct.tasks[uid()]["Comments"]],
            )


def as_html(text: str) -> str:
    """What Paymo's editor stores for typed text."""
    return f"<p>{html.escape(text)}</p>"


def thread(slack: SlackApiStub, card: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in slack.messages(CHANNEL) if m.get("thread_ts") == card["ts"]]


def wait_thread(slack: SlackApiStub, card: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The card's thread once it has ``count`` messages (a Slack comment is told by a job)."""
    deadline = time.monotonic() + 10
    while len(found := thread(slack, card)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.02)
    return found


def test_comments_both_ways(make_taskbot: Callable[..., Taskbot], system: System) -> None:
    taskbot = make_taskbot(**system.settings)
    slack, sync = taskbot.slack, taskbot.app.sync
    assert sync is not None
    create(taskbot, f"Review the doc <@{ANA}|ana>")
    card = card_in(slack, CHANNEL)

    said = system.add(system.ids[ANA], "Looks good <!channel> & more")
    system.add("4242", "From someone unlinked")
    assert sync.run_once() == 1
    first, second = thread(slack, card)
    assert first["text"] == f"<@{ANA}> in {system.label}: Looks good &lt;!channel&gt; &amp; more"
    assert second["text"] == f"someone in {system.label}: From someone unlinked"
    assert sync.run_once() == 0 and len(thread(slack, card)) == 2  # told once

    system.edit(said, "Looks better")
    assert sync.run_once() == 1
    edited = slack.message(CHANNEL, first["ts"])
    assert edited["text"] == f"<@{ANA}> in {system.label}: Looks better _(edited)_"

    system.delete(said)
    assert sync.run_once() == 1
    assert [m["ts"] for m in thread(slack, card)] == [second["ts"]]
    assert slack.calls("chat.delete")

    taskbot.command("comment T-1 written in Slack", user=ANA, key="comment")
    slack.wait_for_response("comment")
    mine = wait_thread(slack, card, 2)[-1]
    assert mine["text"] == f"<@{ANA}>: written in Slack"
    assert any("written in Slack" in text for text in system.texts())
    assert sync.run_once() == 0 and len(thread(slack, card)) == 2  # not echoed
    assert taskbot.app.backend.get(TEAM, "T-1").comments[-1].text == "written in Slack"
