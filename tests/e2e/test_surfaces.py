"""Modals, App Home, the message shortcut, /task help and errors, and Slack failing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.models import AttachmentKind, ListView, Status, Task, TaskQuery
from bot.slack import ids
from bot.slack.metadata import TaskRefContext
from tests.e2e.conftest import ANA, BEN, BOSS, CHANNEL, TEAM, Taskbot
from tests.e2e.test_flows import buttons, card_in, create, dm, text_of
from tests.fakes import InMemoryBackend
from tests.slack_requests import (
    app_home_opened,
    block_action,
    message_shortcut,
    view_submission,
)
from tests.test_manifest import load_manifest, manifest_mismatches


def form(**fields: Any) -> dict[str, Any]:
    """A create-modal state as Slack sends it (block_id → action_id → element state)."""
    values: dict[str, Any] = {
        ids.BLOCK_TITLE: {
            ids.ELEMENT: {
                "type": "plain_text_input",
                "value": fields.get("title", "Plan the offsite"),
            }
        },
        ids.BLOCK_ASSIGNEES: {
            ids.ELEMENT: {
                "type": "multi_users_select",
                "selected_users": fields.get("users", [ANA]),
            }
        },
        ids.BLOCK_CONDITION: {
            ids.ELEMENT: {
                "type": "radio_buttons",
                "selected_option": {"value": fields.get("condition", "ANY_ONE")},
            }
        },
        ids.BLOCK_CHANNEL: {
            ids.ELEMENT: {"type": "conversations_select", "selected_conversation": CHANNEL}
        },
    }
    if "date" in fields:
        values[ids.BLOCK_DUE_DATE] = {
            ids.ELEMENT: {"type": "datepicker", "selected_date": fields["date"]}
        }
    if "time" in fields:
        values[ids.BLOCK_DUE_TIME] = {
            ids.ELEMENT: {"type": "timepicker", "selected_time": fields["time"]}
        }
    return values


def stored_tasks(taskbot: Taskbot) -> list[Task]:
    query = TaskQuery(team_id=TEAM, view=ListView.ASSIGNED, user_id=BOSS)
    return taskbot.app.backend.list(query)


def test_help_and_usage_are_answered_in_the_ack(taskbot: Taskbot) -> None:
    answer = taskbot.command("help")
    # Bolt answers a slash command's ack(text) as plain text: Slack shows it only to the sender.
    assert answer.status_code == 200 and "/task add" in answer.text
    wrong = taskbot.command("frobnicate")
    assert "don't know `/task frobnicate`" in wrong.text
    missing = taskbot.command("done")
    assert "needs a task handle" in missing.text


def test_bad_input_gets_a_clear_ephemeral_and_writes_nothing(taskbot: Taskbot) -> None:
    taskbot.command(f"add <@{ANA}> due:2020-01-01", key="bad")
    (reply,) = taskbot.slack.wait_for_response("bad")
    assert "title" in reply["text"].lower() and "passed" in reply["text"]
    taskbot.command("done T-99", key="missing")
    (missing,) = taskbot.slack.wait_for_response("missing")
    assert "no task T-99" in missing["text"]
    taskbot.command("add Fix the robot <@UROBOT>", key="bot")
    (bot,) = taskbot.slack.wait_for_response("bot")
    assert "Bots can't be assigned" in bot["text"]
    assert (
        taskbot.app.service.list_tasks(
            taskbot.app.service.actor(TEAM, BOSS),
            view=__import__("bot.domain.models").domain.models.ListView.ASSIGNED,
        )
        == []
    )


def test_create_modal_field_errors_then_success(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    answer = taskbot.command("new Plan the offsite", key="new")
    assert answer.status_code == 200
    slack.wait_for("views.open")
    view = slack.view(slack.last_view_id())
    assert view["callback_id"] == ids.VIEW_CREATE
    metadata = view["private_metadata"]

    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    refused = taskbot.send(
        view_submission(
            ids.VIEW_CREATE,
            form(title="", date=yesterday),
            user_id=BOSS,
            team_id=TEAM,
            private_metadata=metadata,
            view_id=view["id"],
        )
    )
    body = refused.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {ids.BLOCK_TITLE, ids.BLOCK_DUE_DATE}
    assert stored_tasks(taskbot) == []
    assert slack.calls("chat.postMessage") == []

    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    accepted = taskbot.send(
        view_submission(
            ids.VIEW_CREATE,
            form(users=[ANA, BEN], date=tomorrow, time="09:00", condition="MUST_ALL"),
            user_id=BOSS,
            team_id=TEAM,
            private_metadata=metadata,
            view_id=view["id"],
        )
    )
    assert accepted.json()["response_action"] == "update"
    slack.wait_for("views.update")
    deadline = time.monotonic() + 5
    while "Created" not in str(slack.view(view["id"])["blocks"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "Created *T-1*" in str(slack.view(view["id"])["blocks"])
    task = taskbot.app.backend.get(TEAM, "T-1")
    assert task.due is not None and task.due.tz == "Europe/Paris"  # read in the creator's zone
    assert [a.id for a in task.assignees] == [ANA, BEN] and task.channel_id == CHANNEL
    card_in(slack, CHANNEL)


def test_reassign_through_the_modal(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"Write the notes <@{ANA}>")
    card = card_in(slack, CHANNEL)
    taskbot.click(
        ids.ACTION_REASSIGN,
        buttons(card)[ids.ACTION_REASSIGN],
        BOSS,
        channel=CHANNEL,
        ts=card["ts"],
    )
    slack.wait_for("views.update")
    view_id = slack.last_view_id()
    modal = slack.view(view_id)
    assert modal["callback_id"] == ids.VIEW_REASSIGN
    values = {
        ids.BLOCK_ASSIGNEES: {ids.ELEMENT: {"type": "multi_users_select", "selected_users": [BEN]}}
    }
    answer = taskbot.send(
        view_submission(
            ids.VIEW_REASSIGN,
            values,
            user_id=BOSS,
            team_id=TEAM,
            private_metadata=modal["private_metadata"],
            view_id=view_id,
        )
    )
    assert answer.status_code == 200
    card_in(slack, dm(BEN))  # the new assignee got the card
    deadline = time.monotonic() + 5
    while (
        not any("unassigned you" in m["text"] for m in slack.messages(dm(ANA)))
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert any("unassigned you" in m["text"] for m in slack.messages(dm(ANA)))
    assert [a.id for a in taskbot.app.backend.get(TEAM, "T-1").assignees] == [BEN]


def test_stale_reassign_is_refused_with_the_current_task(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"Book the room <@{ANA}> <@{BEN}> all")
    stale = TaskRefContext(handle="T-1", version=1).dump()
    taskbot.command("assign T-1 <@UCARL>", key="assign")  # moves the task to version 2
    slack.wait_for_response("assign")
    values = {
        ids.BLOCK_ASSIGNEES: {ids.ELEMENT: {"type": "multi_users_select", "selected_users": [ANA]}}
    }
    taskbot.send(
        view_submission(
            ids.VIEW_REASSIGN, values, user_id=BOSS, team_id=TEAM, private_metadata=stale
        )
    )
    deadline = time.monotonic() + 5
    while not any("changed since you last saw it" in m["text"] for m in slack.messages(dm(BOSS))):
        assert time.monotonic() < deadline, slack.messages(dm(BOSS))
        time.sleep(0.02)
    assert len(taskbot.app.backend.get(TEAM, "T-1").assignees) == 3  # nothing overwritten


def test_app_home_is_published(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"Home thing <@{ANA}>")
    slack.reset()
    assert taskbot.send(app_home_opened(ANA, team_id=TEAM)).status_code == 200
    slack.wait_for("views.publish")
    home = slack.home(ANA)
    assert home is not None and home["type"] == "home"
    assert "My open tasks (1)" in str(home["blocks"]) and "T-1" in str(home["blocks"])


def test_message_shortcut_prefills_and_attaches_the_permalink(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    taskbot.send(
        message_shortcut(
            ids.SHORTCUT_FROM_MESSAGE,
            user_id=BOSS,
            team_id=TEAM,
            channel_id=CHANNEL,
            message_text="Can someone renew the TLS cert?\nIt expires Friday.",
            message_ts="1700000000.123456",
        )
    )
    slack.wait_for("views.open")
    view = slack.view(slack.last_view_id())
    assert "Can someone renew the TLS cert?" in str(view["blocks"])
    taskbot.send(
        view_submission(
            ids.VIEW_CREATE,
            form(title="Renew the TLS cert"),
            user_id=BOSS,
            team_id=TEAM,
            private_metadata=view["private_metadata"],
            view_id=view["id"],
        )
    )
    slack.wait_for("chat.getPermalink")
    card = card_in(slack, CHANNEL)
    (link,) = taskbot.app.backend.get(TEAM, "T-1").attachments
    assert link.kind is AttachmentKind.SLACK_MESSAGE and "p1700000000123456" in (link.url or "")
    assert link.url in text_of(card)


def test_slow_backend_is_acknowledged_within_slacks_deadline(make_taskbot: Any) -> None:
    backend = InMemoryBackend()
    taskbot = make_taskbot(backend=backend)
    backend.delay = 2.5
    started = time.monotonic()
    answer = taskbot.command("list", key="slow")
    acked = time.monotonic() - started
    assert answer.status_code == 200 and acked < 1.0, acked
    (reply,) = taskbot.slack.wait_for_response("slow", timeout=10)
    assert "Your open tasks" in reply["text"]


def test_failing_backend_is_reported_and_nothing_is_lost(make_taskbot: Any) -> None:
    backend = InMemoryBackend()
    taskbot = make_taskbot(backend=backend)
    backend.fail_next(1)
    taskbot.command(f"add Keep me <@{ANA}>", key="fail")
    (reply,) = taskbot.slack.wait_for_response("fail")
    assert "didn't answer" in reply["text"] and "Nothing was changed" in reply["text"]
    assert "Traceback" not in reply["text"]


def test_rate_limited_slack_is_retried_after_retry_after(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    slack.rate_limit_next("chat.postMessage", retry_after=1, times=1)
    create(taskbot, f"Survive a 429 <@{ANA}>")
    slack.wait_for("chat.postMessage", 3, timeout=10)
    card_in(slack, CHANNEL)  # posted on the retry
    first, second = slack.calls("chat.postMessage")[:2]
    assert second.at - first.at >= 0.9


def test_slack_errors_never_lose_the_task(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    slack.fail_next("chat.postMessage", "channel_not_found")
    create(taskbot, f"Still saved <@{ANA}>")
    assert taskbot.app.backend.get(TEAM, "T-1").title == "Still saved"
    deadline = time.monotonic() + 5
    while not any("couldn't post its card" in m["text"] for m in slack.messages(dm(BOSS))):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_home_button_from_app_home_replies_by_dm(taskbot: Taskbot) -> None:
    slack = taskbot.slack
    create(taskbot, f"From home <@{ANA}>")
    task = taskbot.app.backend.get(TEAM, "T-1")
    taskbot.send(
        block_action(
            ids.ACTION_DONE,
            ids.encode_ref("T-1", task.version),
            user_id=BEN,
            team_id=TEAM,
            container="home",
        )
    )
    deadline = time.monotonic() + 5
    while not any("not an assignee" in m["text"] for m in slack.messages(dm(BEN))):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert taskbot.app.backend.get(TEAM, "T-1").status is Status.NEW


def test_manifest_matches_what_the_running_app_registers(taskbot: Taskbot) -> None:
    registered = taskbot.app.slack.registered
    assert (
        manifest_mismatches(
            load_manifest(),
            commands=registered.commands,
            shortcuts=registered.shortcuts,
            events=registered.events,
            interactivity_needed=bool(registered.actions or registered.views),
        )
        == []
    )
    assert registered.actions >= set(ids.CARD_ACTIONS)
