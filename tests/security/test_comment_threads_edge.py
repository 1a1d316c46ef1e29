"""Comments from a task system in the card's thread: posted, edited and deleted through the
notifier, every word of them inert (the one rendering edge), whatever the system sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings

from bot.domain.events import EventKind, Origin, TaskEvent
from bot.domain.models import Actor, BackendCapabilities, CardKind, CardRef, Comment
from bot.slack.notifier import SlackNotifier
from tests.fakes import FakeDirectory
from tests.security.test_rendering_edge import (
    ANA,
    CHANNEL,
    NOW,
    TEAM,
    MemoryCards,
    RecordingClient,
    assert_inert,
    hostile_task,
    texts,
)


class Client(RecordingClient):
    def __init__(self) -> None:
        super().__init__()
        self.deleted: list[tuple[str, str]] = []

    def chat_delete(self, **params: Any) -> dict[str, Any]:
        self.deleted.append((params["channel"], params["ts"]))
        return {"ok": True}


class MemoryThreads:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add_message(self, team_id: str, comment_id: str, channel_id: str, message_ts: str) -> None:
        self.rows.append((team_id, comment_id, channel_id, message_ts))

    def messages(self, team_id: str, comment_id: str) -> list[tuple[str, str]]:
        return [(c, ts) for t, cid, c, ts in self.rows if (t, cid) == (team_id, comment_id)]

    def forget_messages(self, team_id: str, messages: Sequence[tuple[str, str]]) -> None:
        self.rows = [r for r in self.rows if (r[2], r[3]) not in messages]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, edited=texts, system=texts)
def test_a_comment_from_a_task_system_is_posted_edited_and_deleted_inert(
    text: str, edited: str, system: str
) -> None:
    task = hostile_task("title", "description", "comment", "label")
    client, cards, threads = Client(), MemoryCards(), MemoryThreads()
    cards.add(
        CardRef(
            team_id=TEAM,
            task_id=task.id,
            channel_id=CHANNEL,
            message_ts="card",
            kind=CardKind.CHANNEL,
        )
    )
    notifier = SlackNotifier(
        lambda team: client,  # type: ignore[arg-type, return-value]
        cards,  # type: ignore[arg-type]
        FakeDirectory(),
        BackendCapabilities(),
        lambda: NOW,
        comment_threads=threads,
    )
    said = Comment(author=ANA, text=text, created_at=NOW)

    def event(kind: EventKind, comment: Comment) -> TaskEvent:
        return TaskEvent(
            kind=kind,
            task=task,
            actor=Actor(team_id=TEAM, user_id=ANA),
            comment=comment,
            origin=Origin(system=system, user_id=ANA),
        )

    notifier.notify([event(EventKind.COMMENTED, said)])
    ((_, _, channel, ts),) = threads.rows
    notifier.notify([event(EventKind.COMMENT_EDITED, said.model_copy(update={"text": edited}))])
    (rewrite,) = [m for m in client.sent if m.get("ts") == ts]
    assert rewrite["text"].startswith(f"<@{ANA}> in ")
    notifier.notify([event(EventKind.COMMENT_DELETED, said)])
    assert client.deleted == [(channel, ts)] and threads.rows == []
    assert_inert(*client.sent)
