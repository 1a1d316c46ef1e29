"""Permission before side effects, tried from outside as an attacker in the workspace would.

Someone with no part in a task names people in a command or a form: nobody is looked up, DMed
or linked, and no task API is called, before taskbot knows the actor may do it. Admin status is
at most a minute old; a Maxsight task's assignor is never whoever listed it first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.slack import ids
from tests.e2e.conftest import ADMIN, ANA, BEN, BOSS, CARL, EVE, TEAM, Taskbot
from tests.e2e.test_flows import create, dm
from tests.e2e.test_surfaces import form, stored_tasks
from tests.e2e.test_user_map import DirectoryBackend, answer
from tests.fakes import FakeClock
from tests.slack_requests import view_submission
from tests.stubs.maxsight_api import MaxsightSimulator, maxsight_simulator
from tests.stubs.paymo_api import PaymoSimulator, paymo_simulator

NEWBIE = "UNEWBIE"  # in Slack, not in Paymo
BIG = "SBIGTEAM"  # a user group larger than the assignee cap


@pytest.fixture
def paymo() -> Iterator[PaymoSimulator]:
    with paymo_simulator("paymo-key") as simulator:
        simulator.add_user(241100, "uboss@example.com")
        simulator.add_user(241185, "uana@example.com")
        simulator.add_user(241186, "uben@example.com")
        yield simulator


@pytest.fixture
def on_paymo(make_taskbot: Callable[..., Taskbot], paymo: PaymoSimulator) -> Taskbot:
    bot = make_taskbot(
        TASK_BACKEND="paymo",
        PAYMO_API_URL=paymo.url,
        PAYMO_API_KEY="paymo-key",
        PAYMO_PROJECT_ID=7001,
    )
    bot.slack.add_user(TEAM, NEWBIE, name="newbie")
    return bot


def user_lookups(paymo: PaymoSimulator) -> int:
    return len(paymo.calls("GET", "/api/users"))


def dms_to(taskbot: Taskbot, *users: str) -> list[dict[str, Any]]:
    return [m for u in users for m in taskbot.slack.messages(dm(u))]


def links_of(taskbot: Taskbot, *users: str) -> list[Any]:
    links = taskbot.app.service.links
    assert links is not None
    return [found for u in users if (found := links.whoami_of(TEAM, u)) is not None]


def test_assigning_on_a_missing_task_looks_up_and_tells_nobody(
    on_paymo: Taskbot, paymo: PaymoSimulator
) -> None:
    refused = answer(on_paymo, f"assign T-999 <@{ANA}|a> <@{BEN}|b> <@{NEWBIE}|c>", EVE, "x")
    assert "T-999" in refused
    assert dms_to(on_paymo, ANA, BEN, NEWBIE) == []
    assert user_lookups(paymo) == 0
    assert links_of(on_paymo, ANA, BEN) == []  # no link made by email on their behalf either


def test_assigning_on_someone_elses_task_looks_up_and_tells_nobody(
    on_paymo: Taskbot, paymo: PaymoSimulator
) -> None:
    create(on_paymo, f"Order chairs <@{ANA}|ana>")  # links Ana and Boss by email
    lookups, before = user_lookups(paymo), on_paymo.slack.calls("chat.postMessage")
    refused = answer(on_paymo, f"assign T-1 <@{BEN}|b> <@{NEWBIE}|c>", EVE, "x")
    assert "Only the assignor of T-1" in refused
    assert user_lookups(paymo) == lookups and links_of(on_paymo, BEN) == []
    assert on_paymo.slack.calls("chat.postMessage") == before


def test_unlinked_people_are_not_dmed_when_nothing_was_saved(
    on_paymo: Taskbot, paymo: PaymoSimulator
) -> None:
    refused = answer(on_paymo, f"add Audit <@{ANA}|ana> <@{NEWBIE}|n>", BOSS, "c")
    assert f"<@{NEWBIE}> is not linked to paymo" in refused and paymo.tasks == {}
    assert dms_to(on_paymo, NEWBIE) == []


def test_the_assignee_cap_holds_after_a_group_is_expanded(
    on_paymo: Taskbot, paymo: PaymoSimulator
) -> None:
    members = [f"UMEMBER{n:03d}" for n in range(60)]
    on_paymo.slack.add_group(TEAM, BIG, "everyone-big", members)
    refused = answer(on_paymo, f"add Audit <!subteam^{BIG}|@big>", BOSS, "c")
    assert "at most 50 assignees" in refused and paymo.tasks == {}
    assert user_lookups(paymo) == 0  # refused before any member was looked up
    create(on_paymo, f"Order chairs <@{ANA}|ana>")
    lookups = user_lookups(paymo)
    refused = answer(on_paymo, f"assign T-1 <!subteam^{BIG}|@big>", BOSS, "a")
    assert "at most 50 assignees" in refused and user_lookups(paymo) == lookups


def submit_create(taskbot: Taskbot, channel: str, user: str = BOSS) -> str:
    """Submit the create form for ``channel``; the text of the view it ends on."""
    values = form(title="Quarterly report")
    values[ids.BLOCK_CHANNEL][ids.ELEMENT]["selected_conversation"] = channel
    answered = taskbot.send(
        view_submission(ids.VIEW_CREATE, values, user_id=user, team_id=TEAM, view_id="V1")
    )
    assert answered.status_code == 200
    taskbot.slack.wait_for("views.update")
    return str(taskbot.slack.last("views.update").params["view"])


def test_the_card_channel_must_be_one_the_creator_is_in(taskbot: Taskbot) -> None:
    taskbot.slack.add_channel(TEAM, "CSECRET", [ANA], bot_member=True)
    shown = submit_create(taskbot, "CSECRET", user=BOSS)
    assert "channel you're a member of" in shown
    assert taskbot.slack.messages("CSECRET") == []
    assert stored_tasks(taskbot) == []


def test_the_card_channel_must_be_one_the_bot_can_post_in(taskbot: Taskbot) -> None:
    taskbot.slack.add_channel(TEAM, "GPRIVATE", [BOSS, ANA], bot_member=False, private=True)
    shown = submit_create(taskbot, "GPRIVATE", user=BOSS)
    assert "I can't post in that channel" in shown
    assert stored_tasks(taskbot) == []
    assert dms_to(taskbot, ANA) == []


def test_a_demoted_admin_loses_delete_within_a_minute(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    clock = FakeClock(datetime.now(UTC))
    taskbot = make_taskbot(clock=clock)
    demoted = "UDEMOTED"
    taskbot.slack.add_user(TEAM, demoted, is_admin=True, name="demoted")
    create(taskbot, f"Order chairs <@{ANA}|ana>")
    assert "T-1" in answer(taskbot, "show T-1", demoted, "s")  # an admin sees any task
    taskbot.slack.add_user(TEAM, demoted, is_admin=False, name="demoted")
    clock.advance(seconds=61)
    refused = answer(taskbot, "delete T-1", demoted, "d")
    assert "Only the assignor of T-1" in refused
    assert taskbot.app.backend.get(TEAM, "T-1").handle == "T-1"  # still there


def test_a_demoted_admin_loses_linking_within_a_minute(
    make_taskbot: Callable[..., Taskbot],
) -> None:
    clock = FakeClock(datetime.now(UTC))
    taskbot = make_taskbot(backend=DirectoryBackend(), clock=clock)
    demoted = "UDEMOTED2"
    taskbot.slack.add_user(TEAM, demoted, is_admin=True, name="demoted")
    assert "You are not linked" in answer(taskbot, "whoami", demoted, "w")
    assert "is now" in answer(taskbot, f"link <@{CARL}|carl> {CARL_UUID}", demoted, "l1")
    taskbot.slack.add_user(TEAM, demoted, is_admin=False, name="demoted")
    clock.advance(seconds=61)
    refused = answer(taskbot, f"link <@{BEN}|ben> {BEN_UUID}", demoted, "l2")
    assert "Only workspace admins" in refused


CARL_UUID = "c0000000-0000-4000-8000-0000000000c1"
BEN_UUID = "b0000000-0000-4000-8000-0000000000b1"
MX_ANA = "a0000000-0000-4000-8000-00000000000a"
MX_OPERATOR = "f0000000-0000-4000-8000-00000000000f"
MX_STRANGER = "e0000000-0000-4000-8000-00000000000e"  # a Maxsight user linked to nobody


@pytest.fixture
def mx() -> Iterator[MaxsightSimulator]:
    with maxsight_simulator("maxsight-key") as simulator:
        yield simulator


def on_maxsight(
    make_taskbot: Callable[..., Taskbot], mx: MaxsightSimulator, **more: Any
) -> Taskbot:
    bot = make_taskbot(
        TASK_BACKEND="maxsight", MAXSIGHT_API_URL=mx.url, MAXSIGHT_API_KEY="maxsight-key", **more
    )
    assert "is now" in answer(bot, f"link <@{ANA}|ana> {MX_ANA}", ADMIN, "link-ana")
    return bot


def test_a_maxsight_task_is_not_managed_by_whoever_lists_it_first(
    make_taskbot: Callable[..., Taskbot], mx: MaxsightSimulator
) -> None:
    taskbot = on_maxsight(make_taskbot, mx)
    mx.assign_in_maxsight(mx.add_task("Review vendor"), to=MX_ANA, by=MX_STRANGER)
    assert "T-1" in answer(taskbot, "list", ANA, "l")
    task = taskbot.app.backend.get(TEAM, "T-1")
    assert task.assignor != ANA
    assert "Only the assignor of T-1" in answer(taskbot, f"assign T-1 <@{BEN}|ben>", ANA, "a")


def test_a_maxsight_assignor_is_the_operator_when_assigned_by_is_unlinked(
    make_taskbot: Callable[..., Taskbot], mx: MaxsightSimulator
) -> None:
    taskbot = on_maxsight(make_taskbot, mx, MAXSIGHT_ACTOR_ID=MX_OPERATOR)
    assert "is now" in answer(taskbot, f"link <@{BOSS}|boss> {MX_OPERATOR}", ADMIN, "link-op")
    mx.assign_in_maxsight(mx.add_task("Review vendor"), to=MX_ANA, by=MX_STRANGER)
    answer(taskbot, "list", ANA, "l")
    assert taskbot.app.backend.get(TEAM, "T-1").assignor == BOSS
    mx.assign_in_maxsight(mx.add_task("Sign off"), to=MX_ANA, by=MX_ANA)
    answer(taskbot, "list", ANA, "l2")
    assert taskbot.app.backend.get(TEAM, "T-2").assignor == ANA  # assigned_by_id's own link
