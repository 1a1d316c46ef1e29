"""Issue 12, finding 1: no user or task-system text reaches Slack as live markup.

Arbitrary text, Slack markup included, goes through every builder (cards, DMs, App Home, modals,
replies, reminders, digests, escalations, error messages); every mrkdwn text and message text
that comes out may hold only the markup the code rendered from ids and timestamps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import rules
from bot.domain.errors import BackendUnavailable, InvalidInput, NotFound
from bot.domain.events import EventKind, TaskEvent
from bot.domain.models import (
    Actor,
    Assignee,
    Attachment,
    AttachmentKind,
    BackendCapabilities,
    CardClaim,
    CardKind,
    CardRef,
    Comment,
    CommentEvent,
    CompletionCondition,
    Due,
    Part,
    PartState,
    Task,
    TaskDraft,
)
from bot.slack.blocks.card import task_card
from bot.slack.blocks.home import home_view
from bot.slack.blocks.modals import create_task_modal, message_view, reassign_modal
from bot.slack.blocks.task_list import task_list
from bot.slack.command_text import UsageError, parse, parse_quick_add
from bot.slack.errors import person_message
from bot.slack.listeners.commands import usage_reply
from bot.slack.markup import escape, from_slack, task_name
from bot.slack.notifier import SlackNotifier
from bot.slack.reminders import SlackReminderSender
from tests.fakes import FakeDirectory
from tests.security.markup_check import PERMALINK, leaks, mrkdwn

TEAM, BOSS, ANA, BEN, OPS, CHANNEL = "T1", "UBOSS", "UANA", "UBEN", "SOPS", "C0PROJECT"
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
CAPS = BackendCapabilities()
MARKUP = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^SEVIL|@evil>",
    "<@UEVIL>",
    "<@UEVIL|eve>",
    "<#CEVIL|secret>",
    "<http://evil.example/login|Verify account>",
    "<!date^1^{date}|x>",
    "&lt;!channel&gt;",
    "<",
    ">",
    "&",
    "|",
    "{@0}",
    "*",
    "`",
    "\n",
]
texts = st.lists(
    st.one_of(st.sampled_from(MARKUP), st.text(max_size=8)), min_size=1, max_size=6
).map("".join)


def assert_inert(*payloads: Any) -> None:
    for text in mrkdwn(list(payloads)):
        assert not leaks(text), text


class RecordingClient:
    """A WebClient stand-in: records what the bot sends, answers like Slack."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def chat_postMessage(self, **params: Any) -> dict[str, Any]:  # noqa: N802
        self.sent.append(params)
        return {"channel": params["channel"], "ts": f"{len(self.sent)}.0"}

    chat_update = chat_postMessage


class MemoryCards:
    def __init__(self) -> None:
        self.cards: list[CardRef] = []

    def add(self, card: CardRef, version: int = 0) -> None:
        self.cards.append(card)

    def for_task(self, team_id: str, task_id: str) -> list[CardRef]:
        return [c for c in self.cards if c.task_id == task_id]

    def remove(self, team_id: str, channel_id: str, message_ts: str) -> None:
        pass

    def claim(
        self, channel_id: str, message_ts: str, version: int, *, wait: float = 0.0
    ) -> CardClaim | None:
        return CardClaim(channel_id=channel_id, message_ts=message_ts, version=version, token="t")

    def settle(self, claim: CardClaim, *, shown: bool) -> None:
        pass

    def behind(self, limit: int) -> list[CardRef]:
        return []

    def mark_reader(self, team_id: str, task_id: str, user_id: str) -> list[CardRef]:
        return [c for c in self.cards if c.task_id == task_id and c.user_id == user_id]


def hostile_task(title: str, description: str, comment: str, label: str) -> Task:
    """A task whose every piece of text is hostile, as a remote system could hand it over."""
    draft = TaskDraft(
        team_id=TEAM,
        assignor=BOSS,
        title="x",
        condition=CompletionCondition.MUST_ALL,
        assignees=(Assignee.user(ANA), Assignee.user(BEN), Assignee.group(OPS)),
        channel_id=CHANNEL,
    )
    task = rules.new_task(draft, task_id="x1", handle="T-7", now=NOW)
    done = Part(assignee=Assignee.user(ANA), state=PartState.DONE, done_by=ANA, done_at=NOW)
    return task.model_copy(
        update={
            "title": title,
            "description": description,
            "due": Due(date=date(2026, 11, 20), time=time(9), tz="Europe/Paris"),
            "parts": (done, *task.parts[1:]),
            "claimed_by": BEN,
            "comments": (
                Comment(author=BEN, text=comment, created_at=NOW),
                Comment(  # completed in a task system named like the hostile label
                    author="",
                    text="completed the task",
                    created_at=NOW,
                    event=CommentEvent.COMPLETED,
                    origin=label,
                ),
                Comment(
                    author=BOSS,
                    text="expanded",
                    created_at=NOW,
                    event=CommentEvent.EXPANDED,
                    subjects=(OPS, f"<!subteam^{OPS}>"),
                ),
            ),
            "attachments": (
                Attachment(kind=AttachmentKind.SLACK_MESSAGE, url=PERMALINK, title=label),
                Attachment(kind=AttachmentKind.ENTITY, entity_type=label, entity_id=comment),
            ),
        }
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=texts, description=texts, comment=texts, label=texts)
def test_no_builder_lets_typed_text_become_live_markup(
    title: str, description: str, comment: str, label: str
) -> None:
    task = hostile_task(title, description, comment, label)
    completed = task.model_copy(update={"status": "COMPLETED"})
    for shown in (task, completed):
        for kind in CardKind:
            for viewer in (None, BOSS, ANA):
                card = task_card(shown, viewer=viewer, kind=kind, capabilities=CAPS, now=NOW)
                assert_inert({"text": card.text}, card.blocks)
    listing = task_list([task, completed], heading="Yours", viewer=ANA, now=NOW)
    assert_inert({"text": listing.text}, listing.blocks)
    home = home_view(
        mine=[task], assigned=[completed], overdue=[task], viewer=ANA, capabilities=CAPS, now=NOW
    )
    assert_inert(home)
    error = person_message(InvalidInput({"title": title}, refs=(Assignee.user(ANA),)))
    assert_inert(
        create_task_modal(
            title=title,
            description=description,
            channel_id=CHANNEL,
            attachments=task.attachments,
            capabilities=CAPS,
            groups=[(OPS, label)],
            private_metadata="{}",
            error=error,
            categories=[("c1", label)],
        ),
        reassign_modal(task, groups=[(OPS, label)], note=True),
        message_view("Task created", f"Created {task_name(task)}."),
        {"text": error},
        {"text": person_message(NotFound(comment))},
        {"text": person_message(BackendUnavailable(description))},
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=texts, comment=texts, note=texts)
def test_no_dm_reminder_digest_or_escalation_carries_live_markup(
    title: str, comment: str, note: str
) -> None:
    task = hostile_task(title, note, comment, note)
    client, cards = RecordingClient(), MemoryCards()
    directory = FakeDirectory()
    directory.add_group(TEAM, OPS, [ANA])
    notifier = SlackNotifier(
        lambda team: client,  # type: ignore[arg-type, return-value]
        cards,
        directory,
        CAPS,
        lambda: NOW,
    )
    ben = Actor(team_id=TEAM, user_id=BEN)
    people = (Assignee.user(ANA), Assignee.group(OPS))
    said = Comment(author=BEN, text=comment, created_at=NOW)
    notifier.notify([TaskEvent(kind=EventKind.CREATED, task=task, actor=ben)])
    for kind in EventKind:
        notifier.notify(
            [TaskEvent(kind=kind, task=task, actor=ben, assignees=people, comment=said)]
        )
    notifier.tell(TEAM, ANA, note)
    sender = SlackReminderSender(
        lambda team: client,  # type: ignore[arg-type, return-value]
        cards,
        CAPS,
        lambda: NOW,
    )
    sender.send_reminder(task, ANA, late=True, reminder_id=1)
    sender.send_reminder(task, ANA, late=False, reminder_id=2)
    sender.escalate(task, [BEN, OPS], reminder_id=3)
    sender.send_digest(TEAM, ANA, [task], reminder_id=4)
    sender.tell_assignor(task, f"{note} {{@0}}", (Assignee.user(ANA),))
    assert client.sent
    assert_inert(*client.sent)
    assert any(f"<@{BEN}>: " in m["text"] for m in client.sent)  # the comment's author pings


@settings(max_examples=200, deadline=None)
@given(text=texts)
def test_typed_command_text_is_echoed_inert(text: str) -> None:
    """``/task <anything>``: the usage reply, quick-add problems and titles show what was typed."""
    try:
        parse(text)
    except UsageError as exc:
        assert not leaks(usage_reply(exc))
    quick = parse_quick_add(text, NOW, "UTC")
    if quick.problems:
        assert not leaks(person_message(InvalidInput(quick.problems)))
    assert not leaks(escape(quick.title)) and not leaks(escape(from_slack(text)))


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("<!channel> hi", "@channel hi"),
        ("<!here> <!everyone>", "@here @everyone"),
        ("<!subteam^S1|@ops> and <!subteam^S2>", "@ops and @S2"),
        ("<@U1|ana> <@U2>", "@ana @U2"),
        ("<#C1|general>", "#general"),
        (
            "<http://evil.example/login|Verify account>",
            "Verify account (http://evil.example/login)",
        ),
        ("<https://example.com>", "https://example.com"),
        ("<mailto:ana@example.com|ana@example.com>", "ana@example.com"),
        ("a &lt;b&gt; &amp;amp; c", "a <b> &amp; c"),
    ],
)
def test_slack_formatted_input_becomes_the_plain_text_typed(typed: str, shown: str) -> None:
    assert from_slack(typed) == shown


def test_mentions_in_slash_text_still_pick_the_assignees() -> None:
    """``should_escape: true`` sends ``<@U…|name>``: assignees are still read from it."""
    quick = parse_quick_add(
        "<!channel> Verify <@UANA|ana> <!subteam^SOPS|@ops> due:2026-12-01", NOW, "UTC"
    )
    assert quick.assignees == (Assignee.user(ANA), Assignee.group(OPS))
    assert quick.title == "@channel Verify" and not quick.problems


def test_a_task_systems_refusal_to_create_is_escaped() -> None:
    """The backend's own "can't create" text reaches ``ack(text=…)`` through the edge too."""
    from types import SimpleNamespace

    from bot.slack.listeners import commands

    refusal = "Not here <!channel> <http://evil.example|Verify>"
    deps = SimpleNamespace(
        service=SimpleNamespace(capabilities=SimpleNamespace(create_refusal=refusal))
    )
    text = commands._no_create(deps)  # type: ignore[arg-type]
    assert "<!channel>" not in text and "<http" not in text
    assert text == "Not here &lt;!channel&gt; &lt;http://evil.example|Verify&gt;"
