"""The task card: what each reader sees and which buttons they get."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

from bot.domain import rules
from bot.domain.models import (
    Actor,
    Assignee,
    BackendCapabilities,
    CardKind,
    CompletionCondition,
    Due,
    PartState,
    Task,
    TaskDraft,
)
from bot.slack import ids
from bot.slack.blocks.card import task_card
from bot.slack.blocks.home import home_view
from bot.slack.blocks.modals import comment_modal, create_task_modal, message_view, reassign_modal
from bot.slack.blocks.task_list import task_list

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
CAPS = BackendCapabilities()


def make(condition: CompletionCondition = CompletionCondition.MUST_ALL, **fields: object) -> Task:
    values: dict[str, object] = {
        "team_id": "T1",
        "assignor": "UBOSS",
        "title": "Ship it",
        "condition": condition,
        "assignees": (Assignee.user("UANA"), Assignee.user("UBEN")),
    }
    values.update(fields)
    return rules.new_task(TaskDraft(**values), task_id="x", handle="T-7", now=NOW)  # type: ignore[arg-type]


def render(
    task: Task, kind: CardKind, viewer: str | None, caps: BackendCapabilities = CAPS
) -> tuple[str, set[str]]:
    card = task_card(task, viewer=viewer, kind=kind, capabilities=caps, now=NOW)
    blocks = [b.to_dict() for b in card.blocks]  # validates with slack_sdk
    actions = {e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]}
    return json.dumps(blocks), actions


def test_card_says_status_progress_and_people() -> None:
    task = rules.set_own_parts(make(), Actor(team_id="T1", user_id="UANA"), PartState.DONE, NOW)
    text, actions = render(task, CardKind.CHANNEL, None)
    assert "T-7" in text and "In progress" in text and "1 of 2 done" in text
    assert "<@UANA> \\u2014 done" in text and "<@UBEN> \\u2014 pending" in text
    assert actions == {ids.ACTION_DONE, ids.ACTION_UNDO, ids.ACTION_COMMENT, ids.ACTION_REASSIGN}


def test_due_with_time_uses_slacks_date_token_and_date_only_is_plain() -> None:
    timed = make(due=Due(date=date(2026, 12, 1), time=time(9, 30), tz="Asia/Tokyo"))
    assert (
        "<!date^1796085000^{date_short_pretty} at {time}|"
        in render(timed, CardKind.CHANNEL, None)[0]
    )
    dated = make(due=Due(date=date(2026, 12, 1)))
    assert "Tue 01 Dec 2026" in render(dated, CardKind.CHANNEL, None)[0]


def test_assignee_dm_buttons_follow_the_viewers_part() -> None:
    task = make(CompletionCondition.ANY_ONE)
    _, ana = render(task, CardKind.ASSIGNEE_DM, "UANA")
    assert ana == {ids.ACTION_DONE, ids.ACTION_CLAIM, ids.ACTION_COMMENT}
    _, boss = render(task, CardKind.ASSIGNOR_DM, "UBOSS")
    assert boss == {ids.ACTION_COMPLETE, ids.ACTION_COMMENT, ids.ACTION_REASSIGN}


def test_completed_any_one_card_has_no_buttons_but_the_assignors_reopen() -> None:
    task = rules.set_own_parts(
        make(CompletionCondition.ANY_ONE), Actor(team_id="T1", user_id="UBEN"), PartState.DONE, NOW
    )
    text, ana = render(task, CardKind.ASSIGNEE_DM, "UANA")
    assert ana == set() and "Completed by <@UBEN>" in text
    assert render(task, CardKind.CHANNEL, None)[1] == set()
    assert render(task, CardKind.ASSIGNOR_DM, "UBOSS")[1] == {ids.ACTION_REOPEN}


def test_capabilities_hide_what_the_backend_lacks() -> None:
    caps = BackendCapabilities(comments=False, complete=False)
    assert render(make(), CardKind.CHANNEL, None, caps)[1] == {ids.ACTION_REASSIGN}


def test_many_parts_stay_within_slacks_limits() -> None:
    many = tuple(Assignee.user(f"U{i:03d}") for i in range(50))
    text, _ = render(make(assignees=many), CardKind.CHANNEL, None)
    assert "and 20 more" in text
    card = task_card(
        make(assignees=many), viewer=None, kind=CardKind.CHANNEL, capabilities=CAPS, now=NOW
    )
    assert len(card.blocks) <= 50


def test_home_list_and_modals_validate() -> None:
    tasks = [make(title=f"task {i}") for i in range(30)]
    home = home_view(
        mine=tasks, assigned=tasks, overdue=[], viewer="UANA", capabilities=CAPS, now=NOW
    ).to_dict()
    assert len(home["blocks"]) <= 100 and "and 20 more" in json.dumps(home)
    assert "Nothing overdue" in json.dumps(home)
    listed = task_list(tasks, heading="Mine", viewer="UANA", now=NOW)
    assert len(listed.blocks) <= 50 and "T-7" in listed.text
    draft = TaskDraft(
        team_id="T1", assignor="UBOSS", title="Kept", assignees=(Assignee.user("UANA"),)
    )
    shown = create_task_modal(
        channel_id="C1",
        capabilities=CAPS,
        groups=[("S1", "ops")],
        private_metadata="{}",
        draft=draft,
        error="The task system didn't answer.",
    ).to_dict()
    assert "Kept" in json.dumps(shown) and "didn't answer" in json.dumps(shown)
    assert shown["callback_id"] == ids.VIEW_CREATE
    no_time = create_task_modal(
        channel_id=None,
        capabilities=BackendCapabilities(due_time=False, groups=False),
        groups=[("S1", "ops")],
        private_metadata="{}",
    ).to_dict()
    block_ids = {b.get("block_id") for b in no_time["blocks"]}
    assert ids.BLOCK_DUE_TIME not in block_ids and ids.BLOCK_GROUPS not in block_ids
    assert (
        comment_modal(handle="T-7", version=3).to_dict()["private_metadata"]
        == '{"handle":"T-7","version":3}'
    )
    assert reassign_modal(make(), groups=[]).to_dict()["callback_id"] == ids.VIEW_REASSIGN
    assert (
        len(message_view("A title that is far too long for Slack", "x").to_dict()["title"]["text"])
        <= 24
    )


def test_a_one_assignee_backend_says_assigning_replaces_on_card_and_form() -> None:
    one = BackendCapabilities(multi_assignee=False, label="Maxsight")
    task = make(assignees=(Assignee.user("UANA"),))
    text, _ = render(task, CardKind.ASSIGNOR_DM, "UBOSS", one)
    assert "One assignee per task in Maxsight: assigning replaces" in text
    assert "One assignee" not in render(task, CardKind.ASSIGNOR_DM, "UBOSS")[0]
    rule = rules.assignment_rule(one)
    form = json.dumps(reassign_modal(task, groups=[("S1", "ops")], rule=rule).to_dict())
    assert '"max_selected_items": 1' in form and "leave both empty to unassign" in form
    assert "Or a group" in form and "Assignee" in form
