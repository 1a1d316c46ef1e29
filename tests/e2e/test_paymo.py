"""The Slack flows against the Paymo simulator (TASK_BACKEND=paymo), people linked by email.

The same flows as test_flows/test_surfaces run here with Paymo behind taskbot, plus what only a
task system with its own UI and directory has: links, and changes made in Paymo."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.slack import ids
from storage.reminder_ledger import SqlAlchemyReminderLedger
from tests.e2e import test_flows, test_surfaces
from tests.e2e.conftest import ADMIN, ANA, BEN, BOSS, CARL, CHANNEL, EVE, TEAM, Taskbot
from tests.e2e.test_flows import card_in, create, text_of
from tests.e2e.test_user_map import answer
from tests.stubs.paymo_api import PaymoSimulator, paymo_simulator

PAYMO_IDS = {ANA: 241185, BEN: 241186, CARL: 241187, BOSS: 241100, ADMIN: 241101}


@pytest.fixture
def paymo() -> Iterator[PaymoSimulator]:
    with paymo_simulator("paymo-key") as simulator:
        for user, number in PAYMO_IDS.items():
            simulator.add_user(number, f"{user.lower()}@example.com")  # the stub's emails
        yield simulator


@pytest.fixture
def taskbot(make_taskbot: Callable[..., Taskbot], paymo: PaymoSimulator) -> Taskbot:
    return make_taskbot(
        TASK_BACKEND="paymo",
        PAYMO_API_URL=paymo.url,
        PAYMO_API_KEY="paymo-key",
        PAYMO_PROJECT_ID=7001,
    )


def remote(paymo: PaymoSimulator) -> dict[str, Any]:
    (task,) = paymo.tasks.values()
    return task


def test_must_all_completes_the_paymo_task_when_everyone_is_done(
    taskbot: Taskbot, paymo: PaymoSimulator
) -> None:
    test_flows.test_must_all_needs_every_assignee(taskbot)
    task = remote(paymo)
    assert task["complete"] is True and sorted(task["users"]) == [241185, 241186]


def test_any_one(taskbot: Taskbot, paymo: PaymoSimulator) -> None:
    test_flows.test_any_one_completes_at_the_first_done(taskbot)
    assert remote(paymo)["complete"] is True


def test_comment(taskbot: Taskbot) -> None:
    test_flows.test_comment_goes_to_the_cards_thread(taskbot)


def test_reassign(taskbot: Taskbot, paymo: PaymoSimulator) -> None:
    test_surfaces.test_reassign_through_the_modal(taskbot)
    assert remote(paymo)["users"] == [241186]


def test_non_participant_is_refused(taskbot: Taskbot) -> None:
    test_flows.test_non_participant_is_refused_and_nothing_changes(taskbot)


def test_people_without_a_paymo_account_are_told_and_an_admin_links_them(
    taskbot: Taskbot, paymo: PaymoSimulator
) -> None:
    refused = answer(taskbot, f"add Audit <@{ANA}|ana> <@{EVE}|eve>", BOSS, "c")
    assert f"<@{EVE}> is not linked to paymo" in refused and paymo.tasks == {}
    assert taskbot.slack.messages("D" + EVE[1:]) == []  # nothing saved: nobody DMed
    assert "Only workspace admins" in answer(taskbot, f"link <@{EVE}|eve> 241199", ANA, "l1")
    assert "not an id this task system uses" in answer(
        taskbot, f"link <@{EVE}|eve> eve", ADMIN, "l2"
    )
    paymo.add_user(241199, "eve.smith@example.org")
    assert "is now `241199`" in answer(taskbot, f"link <@{EVE}|eve> 241199", ADMIN, "l3")
    assert "Created *T-1*" in answer(taskbot, f"add Audit <@{ANA}|ana> <@{EVE}|eve>", BOSS, "c2")
    assert sorted(remote(paymo)["users"]) == [241185, 241199]
    whoami = answer(taskbot, "whoami", ANA, "w")
    assert "`241185`" in whoami and "by email" in whoami


def test_a_change_made_in_paymo_updates_the_cards(taskbot: Taskbot, paymo: PaymoSimulator) -> None:
    create(taskbot, f"Order chairs <@{ANA}|ana>")
    card = card_in(taskbot.slack, CHANNEL)
    paymo.edit_task(remote(paymo)["id"], name="Order desks", complete=True)
    assert taskbot.app.sync is not None and taskbot.app.sync.run_once() == 1
    taskbot.slack.wait_for("chat.update")
    updated = taskbot.slack.message(CHANNEL, card["ts"])
    assert "Order desks" in text_of(updated) and ids.ACTION_DONE not in text_of(updated)
    assert taskbot.app.backend.get(TEAM, "T-1").is_completed
    assert taskbot.app.sync.run_once() == 0


def test_delete_warns_that_paymo_deletes_time_entries(
    taskbot: Taskbot, paymo: PaymoSimulator
) -> None:
    create(taskbot, f"Order chairs <@{ANA}|ana>")
    warned = answer(taskbot, "delete T-1", BOSS, "d1")
    assert "time entries" in warned and "/task delete T-1 confirm" in warned
    assert len(paymo.tasks) == 1
    assert "Deleted *T-1*" in answer(taskbot, "delete T-1 confirm", BOSS, "d2")
    assert paymo.tasks == {}


def test_a_signed_paymo_webhook_updates_the_cards_at_once(
    make_taskbot: Callable[..., Taskbot], paymo: PaymoSimulator
) -> None:
    taskbot = make_taskbot(
        TASK_BACKEND="paymo",
        PAYMO_API_URL=paymo.url,
        PAYMO_API_KEY="paymo-key",
        PAYMO_PROJECT_ID=7001,
        PAYMO_WEBHOOK_SECRET="hook-secret",
    )
    create(taskbot, f"Order chairs <@{ANA}|ana>")
    card = card_in(taskbot.slack, CHANNEL)
    task = remote(paymo)
    paymo.edit_task(task["id"], name="Order sofas")
    body = json.dumps({**task, "name": "Order sofas"}).encode()
    url = f"http://127.0.0.1:{taskbot.server.port}/hooks/paymo"
    forged = httpx.post(url, content=body, headers={"X-Paymo-Signature": "sha1=00"})
    assert forged.status_code == 401
    signature = hmac.new(b"hook-secret", body, hashlib.sha1).hexdigest()
    accepted = httpx.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Paymo-Signature": f"sha1={signature}",
            "X-Paymo-Event": "model.update.Task",
        },
    )
    assert accepted.status_code == 200
    taskbot.slack.wait_for("chat.update")
    assert "Order sofas" in text_of(taskbot.slack.message(CHANNEL, card["ts"]))


def test_a_task_made_in_paymo_reaches_its_assignee_by_itself(
    taskbot: Taskbot, paymo: PaymoSimulator
) -> None:
    """Intake: no `/task list`, one sync pass (a filtered list from the high-water mark): a
    card DM to the linked assignee, reminders planned from its due date; then nothing more."""
    assert "is now" in answer(taskbot, f"link <@{ANA}|ana> 241185", ADMIN, "link-ana")
    due = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    made = paymo.make_task("Invoice the client", [241185], by=241100, due_date=due)
    paymo.make_task("Not ours", [241186], by=241100)  # Ben isn't linked yet
    assert taskbot.app.sync is not None and taskbot.app.sync.run_once() == 1
    taskbot.slack.wait_for("chat.postMessage")
    to_ana = [text_of(m) for m in taskbot.slack.messages("D" + ANA[1:])]
    assert any("Invoice the client" in t for t in to_ana), to_ana
    assert not any("Not ours" in text_of(m) for m in taskbot.slack.messages())
    task = taskbot.app.backend.get(TEAM, "T-1")
    assert task.id == f"paymo-{made}" and task.due is not None
    ledger = SqlAlchemyReminderLedger(taskbot.app.sessions)
    assert ledger.next_reminder(TEAM, task.id, ANA) is not None
    (listed,) = [c for c in paymo.calls("GET", "/api/tasks") if "updated_on>" in str(c.query)]
    assert "users in (241185)" in listed.query["where"]
    assert taskbot.app.sync.run_once() == 0
