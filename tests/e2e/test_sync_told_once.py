"""Issue 14, attribution and echoes, over signed HTTP on every mirrored backend.

A change made in Slack is written to the task system first; the next sync pass reads it back and
must find nothing to tell, so each person hears of it exactly once. A change made in the task
system itself is told once, as made there ("reopened in Struct PIM"), never in the name of the
task's assignor, who did nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.e2e import test_flows
from tests.e2e.conftest import ANA, BEN, BOSS, CARL, CHANNEL, Taskbot
from tests.e2e.test_flows import card_in, create, dm, text_of
from tests.e2e.test_lineworks import LW_IDS, SECRET_KEY
from tests.e2e.test_maxsight import ANA_MX, BEN_MX, reassign_form, submit, wait_dm
from tests.e2e.test_paymo import PAYMO_IDS
from tests.e2e.test_struct_pim import STRUCT_IDS
from tests.e2e.test_user_map import answer
from tests.stubs.lineworks_api import LineWorksSimulator
from tests.stubs.maxsight_api import maxsight_simulator
from tests.stubs.paymo_api import paymo_simulator
from tests.stubs.struct_pim_api import StructPimSimulator, struct_pim_simulator


def said(taskbot: Taskbot, user: str, words: str) -> list[str]:
    """The DMs ``user`` got that hold ``words``."""
    return [m["text"] for m in taskbot.slack.messages(dm(user)) if words in m["text"]]


def sync(taskbot: Taskbot) -> int:
    assert taskbot.app.sync is not None
    return taskbot.app.sync.run_once()


def start_struct(make: Callable[..., Taskbot], stack: ExitStack) -> tuple[Taskbot, Any]:
    sim = stack.enter_context(struct_pim_simulator("struct-key"))
    for user, uid in STRUCT_IDS.items():
        sim.add_user(uid, f"{user.lower()}@example.com")
    bot = make(
        TASK_BACKEND="struct_pim", STRUCT_PIM_API_URL=sim.url, STRUCT_PIM_API_KEY="struct-key"
    )
    return bot, sim


def start_paymo(make: Callable[..., Taskbot], stack: ExitStack) -> tuple[Taskbot, Any]:
    sim = stack.enter_context(paymo_simulator("paymo-key"))
    for user, number in PAYMO_IDS.items():
        sim.add_user(number, f"{user.lower()}@example.com")
    bot = make(
        TASK_BACKEND="paymo",
        PAYMO_API_URL=sim.url,
        PAYMO_API_KEY="paymo-key",
        PAYMO_PROJECT_ID=7001,
    )
    return bot, sim


def start_lineworks(make: Callable[..., Taskbot], stack: ExitStack) -> tuple[Taskbot, Any]:
    sim = LineWorksSimulator().start()
    stack.callback(sim.stop)
    for user, account in LW_IDS.items():
        sim.add_user(account, f"{user.lower()}@example.com")
    sim.add_user("lw-operator", "operator@example.com")
    bot = make(
        TASK_BACKEND="lineworks",
        LINEWORKS_API_URL=sim.api_url,
        LINEWORKS_AUTH_URL=sim.auth_url,
        LINEWORKS_CLIENT_ID="lw-client",
        LINEWORKS_CLIENT_SECRET="lw-secret",
        LINEWORKS_REFRESH_TOKEN=sim.refresh_token_for("lw-operator"),
        TASKBOT_SECRET_KEY=SECRET_KEY,
        TASKBOT_PUBLIC_URL="https://taskbot.example",
    )
    return bot, sim


STARTS = {"struct_pim": start_struct, "paymo": start_paymo, "lineworks": start_lineworks}


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.mark.parametrize("backend", sorted(STARTS))
def test_slack_changes_read_back_by_the_next_sync_are_told_once(
    backend: str, make_taskbot: Callable[..., Taskbot], stack: ExitStack
) -> None:
    taskbot, _ = STARTS[backend](make_taskbot, stack)
    test_flows.test_any_one_completes_at_the_first_done(taskbot)  # Ana clicks Done
    wait_dm(taskbot, BOSS, "is completed")
    assert sync(taskbot) == 0
    assert len(said(taskbot, BOSS, "is completed")) == 1

    taskbot.command("reopen T-1", user=BOSS, key="reopen")
    wait_dm(taskbot, BEN, "reopened")
    assert sync(taskbot) == 0
    assert [len(said(taskbot, u, "reopened")) for u in (ANA, BEN, BOSS)] == [1, 1, 0]

    taskbot.command(f"assign T-1 <@{CARL}|carl>", user=BOSS, key="assign")
    card_in(taskbot.slack, dm(CARL))
    assert sync(taskbot) == 0
    assert len(said(taskbot, CARL, "assigned you")) == 1
    assert not [m for m in taskbot.slack.messages() if " in Struct PIM" in m["text"]]


def test_a_maxsight_reassignment_from_slack_is_told_once(
    make_taskbot: Callable[..., Taskbot], stack: ExitStack
) -> None:
    mx = stack.enter_context(maxsight_simulator("maxsight-key"))
    taskbot = make_taskbot(
        TASK_BACKEND="maxsight", MAXSIGHT_API_URL=mx.url, MAXSIGHT_API_KEY="maxsight-key"
    )
    for who, their in ((f"<@{ANA}|ana>", ANA_MX), (f"<@{BEN}|ben>", BEN_MX)):
        assert "is now" in answer(taskbot, f"link {who} {their}", "UADMIN", f"link-{their}")
    task_id = mx.add_task("Sanctions screening", assigned_to=ANA_MX)
    answer(taskbot, "list", ANA, "l")
    submit(taskbot, ANA, reassign_form(taskbot, "T-1", ANA), BEN, "yours")
    wait_dm(taskbot, BEN, "assigned you")
    assert sync(taskbot) == 0
    assert len(said(taskbot, BEN, "assigned you")) == 1

    mx.assign_in_maxsight(task_id, to=ANA_MX, by=BEN_MX)  # Ben hands it back, in Maxsight
    assert sync(taskbot) == 1
    back = f"<@{BEN}> assigned you *T-1* Sanctions screening in Maxsight"
    assert said(taskbot, ANA, "assigned you *T-1*")[-1] == back
    assert said(taskbot, BEN, "unassigned you") == []  # he did it himself
    assert sync(taskbot) == 0
    assert len(said(taskbot, ANA, back)) == 1


def test_a_reopening_made_in_struct_is_told_once_as_made_there_not_by_the_assignor(
    make_taskbot: Callable[..., Taskbot], stack: ExitStack
) -> None:
    taskbot, struct = start_struct(make_taskbot, stack)
    create(taskbot, f"Check images <@{ANA}|ana> <@{BEN}|ben>")
    card = card_in(taskbot.slack, CHANNEL)
    uid = remote_uid(struct)
    struct.edit_task(uid, Status=4)  # completed in the PIM
    assert sync(taskbot) == 1
    completed = ":white_check_mark: *T-1* Check images was completed in Struct PIM."
    assert said(taskbot, BOSS, "completed") == [completed]
    taskbot.slack.wait_for("chat.update")
    assert "Completed in Struct PIM" in text_of(taskbot.slack.message(CHANNEL, card["ts"]))

    struct.edit_task(uid, Status=0)  # and reopened there
    assert sync(taskbot) == 1
    reopened = ":leftwards_arrow_with_hook: *T-1* Check images was reopened in Struct PIM."
    for user in (ANA, BEN, BOSS):
        assert said(taskbot, user, "reopened") == [reopened]
    assert sync(taskbot) == 0
    everything = [m["text"] for m in taskbot.slack.messages()]
    assert not [t for t in everything if f"<@{BOSS}> reopened" in t or f"<@{BOSS}> completed" in t]


def remote_uid(struct: StructPimSimulator) -> str:
    (task,) = struct.tasks.values()
    return str(task["Uid"])
