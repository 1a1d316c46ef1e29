"""Slack against the Maxsight simulator (TASK_BACKEND=maxsight): tasks made by Maxsight's
workflows reach their people by themselves (the sync pass), are listed, shown and reassigned from
Slack with one assignee per task; what Maxsight can't do is explained."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from bot.slack import ids
from tests.e2e.conftest import ADMIN, ANA, BEN, BOSS, CARL, OPS, TEAM, Taskbot
from tests.e2e.test_flows import dm, text_of
from tests.e2e.test_user_map import answer
from tests.slack_requests import view_submission
from tests.stubs.maxsight_api import MaxsightSimulator, maxsight_simulator

ANA_MX = "a0000000-0000-4000-8000-00000000000a"
BEN_MX = "b0000000-0000-4000-8000-00000000000b"
OPS_MX = "c0000000-0000-4000-8000-00000000000c"
WORKFLOW_MX = "e0000000-0000-4000-8000-00000000000e"  # Maxsight's own workflow user: not linked


@pytest.fixture
def mx() -> Iterator[MaxsightSimulator]:
    with maxsight_simulator("maxsight-key") as simulator:
        yield simulator


@pytest.fixture
def taskbot(make_taskbot: Callable[..., Taskbot], mx: MaxsightSimulator) -> Taskbot:
    bot = make_taskbot(
        TASK_BACKEND="maxsight", MAXSIGHT_API_URL=mx.url, MAXSIGHT_API_KEY="maxsight-key"
    )
    for who, their in ((f"<@{ANA}|ana>", ANA_MX), (f"<@{BEN}|ben>", BEN_MX)):
        assert "is now" in answer(bot, f"link {who} {their}", ADMIN, f"link-{their}")
    assert "is now" in answer(bot, f"link <!subteam^{OPS}|@ops> {OPS_MX}", ADMIN, "link-ops")
    return bot


def reassign_button(taskbot: Taskbot, handle: str, user: str) -> str:
    """The Reassign button's value on the card `/task show` gives ``user``."""
    taskbot.command(f"show {handle}", user=user, key=f"show-{user}")
    (card,) = taskbot.slack.wait_for_response(f"show-{user}")
    return str(
        next(
            e["value"]
            for b in card["blocks"]
            if b.get("type") == "actions"
            for e in b["elements"]
            if e["action_id"] == ids.ACTION_REASSIGN
        )
    )


def reassign_form(
    taskbot: Taskbot, handle: str, user: str, value: str | None = None
) -> tuple[str, str]:
    """Click Reassign (on ``user``'s own card unless ``value`` is given); (view id, metadata)."""
    value = value or reassign_button(taskbot, handle, user)
    opened = len(taskbot.slack.calls("views.open"))
    taskbot.click(ids.ACTION_REASSIGN, value, user, channel=dm(user), ts="1.0", key=f"r-{user}")
    taskbot.slack.wait_for("views.open", opened + 1)  # opened after the ack
    deadline = time.monotonic() + 15
    while True:
        view_id = taskbot.slack.last_view_id()
        view = taskbot.slack.view(view_id)
        if view.get("callback_id") == ids.VIEW_REASSIGN:
            return view_id, view["private_metadata"]
        assert time.monotonic() < deadline, view
        time.sleep(0.02)


def submit(taskbot: Taskbot, user: str, view: tuple[str, str], to: str | None, note: str) -> None:
    picked = [to] if to else []
    values = {
        ids.BLOCK_ASSIGNEES: {
            ids.ELEMENT: {"type": "multi_users_select", "selected_users": picked}
        },
        ids.BLOCK_NOTE: {ids.ELEMENT: {"type": "plain_text_input", "value": note}},
    }
    answered = taskbot.send(
        view_submission(
            ids.VIEW_REASSIGN,
            values,
            user_id=user,
            team_id=TEAM,
            private_metadata=view[1],
            view_id=view[0],
        )
    )
    assert answered.status_code == 200


def wait_dm(taskbot: Taskbot, user: str, text: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        found = [m["text"] for m in taskbot.slack.messages(dm(user)) if text in m["text"]]
        if found:
            return str(found[-1])
        assert time.monotonic() < deadline, taskbot.slack.messages(dm(user))
        time.sleep(0.02)


def test_new_explains_that_maxsight_tasks_come_from_its_workflows(taskbot: Taskbot) -> None:
    refused = taskbot.command("new", user=BOSS)
    assert refused.status_code == 200 and "come from its workflows" in refused.text
    assert not taskbot.slack.calls("views.open")


def test_my_maxsight_tasks_are_listed_and_reassigned_with_a_comment(
    taskbot: Taskbot, mx: MaxsightSimulator
) -> None:
    task_id = mx.add_task("Sanctions screening", assigned_to=ANA_MX)
    listed = answer(taskbot, "list", ANA, "l")
    assert "T-1" in listed or "Sanctions screening" in str(taskbot.slack.responses("l"))
    view = reassign_form(taskbot, "T-1", ANA)
    assert ids.BLOCK_NOTE in str(taskbot.slack.view(view[0])["blocks"])
    submit(taskbot, ANA, view, BEN, "Please take this one")
    wait_dm(taskbot, ANA, "Reassigned *T-1*")
    assignment = mx.tasks[task_id]["assignment"]
    assert assignment["assigned_to_id"] == BEN_MX and assignment["assigned_by_id"] == ANA_MX
    assert assignment["assignment_comment"] == "Please take this one"


def test_two_people_reassign_from_the_same_stale_card_one_wins_the_other_is_told(
    taskbot: Taskbot, mx: MaxsightSimulator
) -> None:
    task_id = mx.add_task("Adverse media check", assigned_to=ANA_MX)
    answer(taskbot, "list", ANA, "l")
    card = reassign_button(taskbot, "T-1", ANA)  # one card, seen by Ana and an admin
    first = reassign_form(taskbot, "T-1", ANA, card)
    second = reassign_form(taskbot, "T-1", ADMIN, card)
    submit(taskbot, ANA, first, BEN, "yours")
    wait_dm(taskbot, ANA, "Reassigned *T-1*")
    submit(taskbot, ADMIN, second, ANA, "no, yours")
    told = wait_dm(taskbot, ADMIN, "changed since you last saw it")
    assert "T-1" in told
    assert mx.tasks[task_id]["assignment"]["assigned_to_id"] == BEN_MX  # the winner's


def test_a_reassignment_made_in_maxsight_meanwhile_is_shown_not_overwritten(
    taskbot: Taskbot, mx: MaxsightSimulator
) -> None:
    task_id = mx.add_task("PEP check", assigned_to=ANA_MX)
    answer(taskbot, "list", ANA, "l")
    form = reassign_form(taskbot, "T-1", ANA)
    mx.assign_in_maxsight(task_id, to=OPS_MX, by=BEN_MX)
    mx.tasks[task_id]["assignment"]["assigned_to_type"] = "TEAM"
    submit(taskbot, ANA, form, BEN, "yours")
    told = wait_dm(taskbot, ANA, "reassigned in Maxsight meanwhile")
    assert "T-1" in told
    assert mx.tasks[task_id]["assignment"]["assigned_to_id"] == OPS_MX


def test_assign_replaces_and_unassign_clears_from_the_command_and_the_form(
    taskbot: Taskbot, mx: MaxsightSimulator
) -> None:
    help_text = taskbot.command("help", user=ANA).text
    assert "One assignee per task in Maxsight: assigning replaces" in help_text
    task_id = mx.add_task("Sanctions screening", assigned_to=ANA_MX)
    answer(taskbot, "list", ANA, "l")
    token = mx.tasks[task_id]["updated_at"]
    said = answer(taskbot, f"assign T-1 <@{BEN}|ben>", ANA, "a")
    assert f"*T-1* now has <@{BEN}>" in said, said
    (put,) = mx.calls("PUT")
    assert put.headers["if-match"] == token
    assert put.body["update"]["assigned_to_id"] == BEN_MX
    two = answer(taskbot, f"assign T-1 <@{ANA}|ana> <@{BEN}|ben>", ANA, "a2")
    assert "One assignee per task in Maxsight" in two and len(mx.calls("PUT")) == 1
    view = reassign_form(taskbot, "T-1", ANA)
    form = json.dumps(taskbot.slack.view(view[0])["blocks"])
    assert "leave both empty to unassign" in form and '"max_selected_items": 1' in form
    submit(taskbot, ANA, view, None, "")
    wait_dm(taskbot, ANA, "Unassigned *T-1*")
    assert mx.tasks[task_id]["assignment"] is None
    assert "unassign" in mx.calls("PUT")[-1].body
    answer(taskbot, f"assign T-1 <!subteam^{OPS}|@ops>", ANA, "a3")
    assert mx.tasks[task_id]["assignment"]["assigned_to_type"] == "TEAM"
    cleared = answer(taskbot, "unassign T-1", ANA, "u")
    assert "*T-1* now has no assignees" in cleared, cleared
    unassign = mx.calls("PUT")[-1]
    assert unassign.body == {"unassign": {"assigned_by_id": ANA_MX, "assignment_comment": None}}
    assert unassign.headers["if-match"] != token and mx.tasks[task_id]["assignment"] is None


def test_work_assigned_in_maxsight_reaches_its_people_by_itself(
    taskbot: Taskbot, mx: MaxsightSimulator
) -> None:
    mine = mx.add_task("Sanctions screening", assigned_to=ANA_MX, by=BEN_MX)
    mx.add_task("Adverse media check", assigned_to=OPS_MX, kind="TEAM", by=WORKFLOW_MX)
    assert mx.calls("POST") == []  # nobody ran /task list
    assert taskbot.app.sync is not None and taskbot.app.sync.run_once() == 2
    ana = {m["text"]: m for m in taskbot.slack.messages(dm(ANA))}
    card = ana[f"<@{BEN}> assigned you *T-1* Sanctions screening in Maxsight"]
    assert "One assignee per task in Maxsight: assigning replaces" in text_of(card)
    assert "You were assigned *T-2* Adverse media check in Maxsight" in ana  # her team's
    carl = [m["text"] for m in taskbot.slack.messages(dm(CARL))]
    assert carl == ["You were assigned *T-2* Adverse media check in Maxsight"]
    posted = len(taskbot.slack.calls("chat.postMessage"))
    assert taskbot.app.sync.run_once() == 0  # a second pass tells nothing new
    assert len(taskbot.slack.calls("chat.postMessage")) == posted

    updates = len(taskbot.slack.calls("chat.update"))
    mx.assign_in_maxsight(mine, to=BEN_MX, by=WORKFLOW_MX)  # reassigned in Maxsight to Ben
    assert taskbot.app.sync.run_once() == 1
    bens = {m["text"]: m for m in taskbot.slack.messages(dm(BEN))}
    assert "You were assigned *T-1* Sanctions screening in Maxsight" in bens
    assert "You were unassigned from *T-1* Sanctions screening in Maxsight." in {
        m["text"] for m in taskbot.slack.messages(dm(ANA))
    }
    taskbot.slack.wait_for("chat.update", updates + 1)
    now = text_of(taskbot.slack.message(dm(ANA), card["ts"]))  # her card, updated in place
    assert f"<@{BEN}> \\u2014 pending" in now and f"<@{ANA}>" not in now

    mx.assign_in_maxsight(mine, to=WORKFLOW_MX, by=BEN_MX)  # reassigned away: nobody linked
    updates = len(taskbot.slack.calls("chat.update"))
    assert taskbot.app.sync.run_once() == 1
    taskbot.slack.wait_for("chat.update", updates + 1)
    ben_card = bens["You were assigned *T-1* Sanctions screening in Maxsight"]
    assert "No assignees" in text_of(taskbot.slack.message(dm(BEN), ben_card["ts"]))
    assert taskbot.app.sync.run_once() == 0
