"""The Slack flows against the Struct PIM simulator (TASK_BACKEND=struct_pim), people linked by
email and the user group linked by an admin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.links import LinkHow
from bot.domain.models import Actor, Assignee
from storage.reminder_ledger import SqlAlchemyReminderLedger
from tests.e2e import test_flows, test_surfaces
from tests.e2e.conftest import ADMIN, ANA, BEN, BOSS, CARL, CHANNEL, OPS, TEAM, Taskbot
from tests.e2e.test_flows import card_in, create, text_of
from tests.e2e.test_user_map import answer
from tests.stubs.struct_pim_api import StructPimSimulator, struct_pim_simulator

STRUCT_IDS = {ANA: "12", BEN: "5", CARL: "10", BOSS: "3", ADMIN: "1"}
OPS_UID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def struct() -> Iterator[StructPimSimulator]:
    with struct_pim_simulator("struct-key") as simulator:
        for user, uid in STRUCT_IDS.items():
            simulator.add_user(uid, f"{user.lower()}@example.com")  # the stub's emails
        simulator.add_group(OPS_UID, "Ops")
        yield simulator


@pytest.fixture
def taskbot(make_taskbot: Callable[..., Taskbot], struct: StructPimSimulator) -> Taskbot:
    bot = make_taskbot(
        TASK_BACKEND="struct_pim", STRUCT_PIM_API_URL=struct.url, STRUCT_PIM_API_KEY="struct-key"
    )
    linked = answer(bot, f"link <!subteam^{OPS}|@ops> {OPS_UID}", ADMIN, "link-ops")
    assert "is now" in linked, linked
    return bot


def remote(struct: StructPimSimulator) -> dict[str, Any]:
    (task,) = struct.tasks.values()
    return task


def test_must_all(taskbot: Taskbot, struct: StructPimSimulator) -> None:
    test_flows.test_must_all_needs_every_assignee(taskbot)
    task = remote(struct)
    assert task["Status"] == 4 and task["AssignedUsers"] == ["12", "5"]


def test_any_one(taskbot: Taskbot, struct: StructPimSimulator) -> None:
    test_flows.test_any_one_completes_at_the_first_done(taskbot)
    assert remote(struct)["Status"] == 4


def test_group_part(taskbot: Taskbot, struct: StructPimSimulator) -> None:
    test_flows.test_group_part_is_done_by_any_member(taskbot)
    assert remote(struct)["AssignedUserGroups"] == [OPS_UID]


def test_comment_reaches_the_pim(taskbot: Taskbot, struct: StructPimSimulator) -> None:
    test_flows.test_comment_goes_to_the_cards_thread(taskbot)
    assert any("looks good to me" in c["Comment"] for c in remote(struct)["Comments"])


def test_reassign(taskbot: Taskbot, struct: StructPimSimulator) -> None:
    test_surfaces.test_reassign_through_the_modal(taskbot)
    assert remote(struct)["AssignedUsers"] == ["5"]


def test_a_change_made_in_the_pim_updates_the_cards(
    taskbot: Taskbot, struct: StructPimSimulator
) -> None:
    create(taskbot, f"Fix product texts <@{ANA}|ana>")
    card = card_in(taskbot.slack, CHANNEL)
    struct.edit_task(remote(struct)["Uid"], Title="Fix variant texts")
    assert taskbot.app.sync is not None and taskbot.app.sync.run_once() == 1
    taskbot.slack.wait_for("chat.update")
    assert "Fix variant texts" in text_of(taskbot.slack.message(CHANNEL, card["ts"]))


def test_a_task_deleted_in_the_pim_says_so_on_its_card(
    taskbot: Taskbot, struct: StructPimSimulator
) -> None:
    create(taskbot, f"Fix product texts <@{ANA}|ana>")
    card = card_in(taskbot.slack, CHANNEL)
    struct.tasks.clear()
    assert taskbot.app.sync is not None and taskbot.app.sync.run_once() == 1
    taskbot.slack.wait_for("chat.update")
    assert "deleted" in text_of(taskbot.slack.message(CHANNEL, card["ts"])).lower()


def test_a_slack_group_is_linked_to_the_pim_group_of_the_same_name(
    make_taskbot: Callable[..., Taskbot], struct: StructPimSimulator
) -> None:
    taskbot = make_taskbot(
        TASK_BACKEND="struct_pim", STRUCT_PIM_API_URL=struct.url, STRUCT_PIM_API_KEY="struct-key"
    )
    created = answer(taskbot, f"add Translate texts <!subteam^{OPS}|@ops>", BOSS, "c")
    assert "Created *T-1*" in created, created
    assert remote(struct)["AssignedUserGroups"] == [OPS_UID]
    link = taskbot.app.service.links.whoami_of(TEAM, OPS)  # type: ignore[union-attr]
    assert link is not None and link.how is LinkHow.NAME
    struct.add_group("0f8fad5b-d9cb-469f-a165-70867728950f", "ops")  # now two: never guessed
    taskbot.app.service.links.unlink(  # type: ignore[union-attr]
        Actor(team_id=TEAM, user_id=ADMIN), Assignee.group(OPS)
    )
    refused = answer(taskbot, f"add Translate more <!subteam^{OPS}|@ops>", BOSS, "c2")
    assert "not linked to struct_pim" in refused


def test_a_task_made_in_the_pim_reaches_its_assignees_by_itself(
    taskbot: Taskbot, struct: StructPimSimulator
) -> None:
    """Intake: no `/task list`, one sync pass: a card DM to the linked assignee (and to each
    member of a linked group), reminders planned from its deadline; the next pass takes in
    nothing more."""
    for user, uid in ((ANA, "12"), (BOSS, "3")):
        assert "is now" in answer(taskbot, f"link <@{user}|u> {uid}", ADMIN, f"link-{user}")
    due = datetime.now(UTC) + timedelta(days=3)
    mine = struct.make_task("Check the new range", ["12"], by="3", deadline=due)
    struct.make_task("Translate the range", [], [OPS_UID], by="99")
    struct.make_task("Someone else's", ["77"], by="3")
    assert taskbot.app.sync is not None and taskbot.app.sync.run_once() == 2
    taskbot.slack.wait_for("chat.postMessage", count=3)
    to_ana = [text_of(m) for m in taskbot.slack.messages("D" + ANA[1:])]
    assert any("Check the new range" in t for t in to_ana), to_ana
    assert any("Translate the range" in t for t in to_ana)
    assert any("Translate the range" in text_of(m) for m in taskbot.slack.messages("D" + CARL[1:]))
    assert not any("Someone else" in text_of(m) for m in taskbot.slack.messages())
    task = taskbot.app.backend.get(TEAM, "T-1")
    assert task.id == f"struct-{mine}" and task.assignor == BOSS
    ledger = SqlAlchemyReminderLedger(taskbot.app.sessions)
    assert ledger.next_reminder(TEAM, task.id, ANA) is not None
    assert taskbot.app.sync.run_once() == 0
