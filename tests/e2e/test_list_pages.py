"""``/task mine`` pages with Previous / Next (issue 13): a true count in the header, and the
buttons turn the ephemeral list in place, each task on exactly one page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.models import Assignee, TaskDraft
from bot.slack import ids
from bot.slack.blocks.task_list import MAX_ROWS
from tests.e2e.conftest import ANA, BOSS, CHANNEL, TEAM, Taskbot
from tests.slack_requests import block_action

TASKS = MAX_ROWS + 5


def listed(message: dict[str, Any]) -> list[str]:
    return [
        b["text"]["text"].split("*")[1]
        for b in message["blocks"][1:]
        if b["type"] == "section" and b["text"]["text"].startswith("*T-")
    ]


def turns(message: dict[str, Any]) -> dict[str, str]:
    return {
        e["action_id"]: e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }


def turn(taskbot: Taskbot, action_id: str, value: str, key: str) -> dict[str, Any]:
    request = block_action(
        action_id,
        value,
        user_id=ANA,
        team_id=TEAM,
        channel_id=CHANNEL,
        message_ts="1.1",
        response_url=taskbot.slack.response_url_for(key),
        is_ephemeral=True,
    )
    assert taskbot.send(request).status_code == 200
    (answer,) = taskbot.slack.wait_for_response(key)
    return answer


def test_mine_pages_forward_and_back_with_a_true_count(taskbot: Taskbot) -> None:
    now = datetime.now(UTC)
    for n in range(TASKS):
        draft = TaskDraft(
            team_id=TEAM, assignor=BOSS, title=f"Job {n}", assignees=(Assignee.user(ANA),)
        )
        taskbot.app.backend.create(draft, now)
    taskbot.command("mine", user=ANA, key="mine")
    (first,) = taskbot.slack.wait_for_response("mine")
    assert f"({TASKS})" in first["blocks"][0]["text"]["text"]
    assert set(turns(first)) == {ids.ACTION_LIST_NEXT}
    second = turn(taskbot, ids.ACTION_LIST_NEXT, turns(first)[ids.ACTION_LIST_NEXT], "next")
    assert second.get("replace_original") is True
    assert set(turns(second)) == {ids.ACTION_LIST_PREVIOUS}
    back = turn(taskbot, ids.ACTION_LIST_PREVIOUS, turns(second)[ids.ACTION_LIST_PREVIOUS], "back")
    pages = [listed(first), listed(second)]
    assert [len(p) for p in pages] == [MAX_ROWS, TASKS - MAX_ROWS]
    assert sorted(pages[0] + pages[1]) == sorted(f"T-{n}" for n in range(1, TASKS + 1))
    assert listed(back) == pages[0]
