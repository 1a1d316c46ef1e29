"""The ``Notifier`` port on Slack: post and update task cards, DM the people concerned.

Runs after a change is stored. Every Slack failure is logged with its context and, where a person
should know (the card could not be posted in a channel), that person is told by DM; a failure
never undoes the change. May import slack_sdk, ``bot.service.ports`` and ``bot.domain``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.events import EventKind, TaskEvent
from bot.domain.models import (
    AssigneeKind,
    BackendCapabilities,
    CardKind,
    CardRef,
    Comment,
    PartState,
    Task,
)
from bot.service.ports import Clock, CommentThreads, Directory, TaskCards
from bot.slack.blocks.card import task_card
from bot.slack.clients import ClientProvider
from bot.slack.markup import (
    escape,
    render_assignee,
    render_author,
    render_channel,
    task_name,
)

log = logging.getLogger(__name__)

NOTICE_EVENT = "taskbot_notice"


@dataclass
class Delivery:
    """The notification job being delivered: each message it posts carries a mark (the job's
    key, the channel, the thread and a count), and with ``check`` (the job ran before) a message
    whose mark is already in Slack is not posted again."""

    key: str
    check: bool
    since: datetime
    _counts: dict[tuple[str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, channel: str, thread_ts: str | None) -> str:
        with self._lock:
            n = self._counts.get((channel, thread_ts or ""), 0) + 1
            self._counts[(channel, thread_ts or "")] = n
        return f"{self.key}|{channel}|{thread_ts or ''}|{n}"


_DELIVERY: ContextVar[Delivery | None] = ContextVar("taskbot_delivery", default=None)


@contextmanager
def delivering(delivery: Delivery) -> Iterator[None]:
    token = _DELIVERY.set(delivery)
    try:
        yield
    finally:
        _DELIVERY.reset(token)


def find_marked(
    client: WebClient, channel: str, mark: str, *, since: datetime, thread_ts: str | None = None
) -> dict[str, Any] | None:
    """The message carrying ``mark`` in a channel (or DM, or thread), if it was posted."""
    if channel[:1] in ("U", "W"):
        channel = client.conversations_open(users=channel)["channel"]["id"]
    cursor = None
    while True:
        fields: dict[str, Any] = {
            "channel": channel,
            "oldest": f"{since.timestamp() - 1:.6f}",
            "include_all_metadata": True,
            "limit": 200,
            "cursor": cursor,
        }
        page = (
            client.conversations_replies(ts=thread_ts, **fields)
            if thread_ts
            else client.conversations_history(**fields)
        )
        for message in page.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == NOTICE_EVENT
                and (metadata.get("event_payload") or {}).get("mark") == mark
            ):
                return {"channel": channel, "ts": message["ts"]}
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None


MAX_GROUP_DMS = 25  # a group's members each get a DM, up to this many
# How long a card update waits for another process's write of an older version to settle.
CLAIM_WAIT_SECONDS = 20.0
GONE = frozenset({"message_not_found", "channel_not_found"})  # the card is forgotten
UNEDITABLE = frozenset({"cant_update_message", "is_archived"})  # never retried

NextReminder = Callable[[str, str, str], datetime | None]  # (team, task, person) → next reminder


def reader_next_reminder(
    lookup: NextReminder | None, task: Task, viewer: str | None, kind: CardKind
) -> datetime | None:
    """The reader's next reminder, looked up only for a card one person reads (a DM), never for
    a channel card or a list, so lists and App Home pay nothing for it."""
    if lookup is None or viewer is None or kind is CardKind.CHANNEL or not task.is_open:
        return None
    return lookup(task.team_id, task.id, viewer)


class SlackNotifier:
    """Tells assignees and assignors what happened and keeps every card of a task current."""

    def __init__(
        self,
        clients: ClientProvider,
        cards: TaskCards,
        directory: Directory,
        capabilities: BackendCapabilities,
        clock: Clock,
        *,
        after_change: Callable[[Task], None] | None = None,
        next_reminder: NextReminder | None = None,
        comment_threads: CommentThreads | None = None,
    ) -> None:
        self._clients = clients
        self._threads = comment_threads
        self._cards = cards
        self._directory = directory
        self._capabilities = capabilities
        self._clock = clock
        self.after_change = after_change
        self._next_reminder = next_reminder
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def tell(self, team_id: str, user_id: str, text: str) -> None:
        """``text`` is the service's plain text: escaped here like all text the bot posts."""
        self._post(team_id, user_id, text=escape(text))

    def _post(self, team_id: str, channel: str, **fields: Any) -> Any:
        """``chat.postMessage``; inside a notification job, at most once per message."""
        client = self._clients(team_id)
        delivery = _DELIVERY.get()
        if delivery is None:
            return client.chat_postMessage(channel=channel, **fields)
        mark = delivery.mark(channel, fields.get("thread_ts"))
        if delivery.check:
            try:
                found = find_marked(
                    client, channel, mark, since=delivery.since, thread_ts=fields.get("thread_ts")
                )
            except Exception as exc:  # can't tell: sending twice beats never sending
                log.warning("could not check for a sent notification team=%s: %s", team_id, exc)
                found = None
            if found is not None:
                log.info("notification already in Slack, not posted again team=%s", team_id)
                return found
        metadata = {"event_type": NOTICE_EVENT, "event_payload": {"mark": mark}}
        return client.chat_postMessage(channel=channel, metadata=metadata, **fields)

    def notify(self, events: Sequence[TaskEvent]) -> None:
        if not events:
            return
        task = events[-1].task
        with self._lock_for(task):
            posted: set[tuple[str, str]] = set()
            created = any(e.kind is EventKind.CREATED for e in events)
            for event in events:
                if created and event.kind is EventKind.ASSIGNED:
                    continue  # the initial assignees are reached with the new task's cards
                posted |= self._handle(event)
            self._refresh_cards(task, skip=posted)
        if self.after_change is not None:
            try:
                self.after_change(task)
            except Exception:  # the change is stored; a stale App Home is not worth failing for
                log.exception("after-change hook failed team=%s task=%s", task.team_id, task.handle)

    def _lock_for(self, task: Task) -> threading.Lock:
        # Keeps one task's notifications in order in this process (its DMs too); card writes
        # are ordered across processes by the claims in the store (``refresh_card``).
        with self._locks_guard:
            return self._locks.setdefault((task.team_id, task.id), threading.Lock())

    # --- events ---------------------------------------------------------------------------------

    def _handle(self, event: TaskEvent) -> set[tuple[str, str]]:
        task, actor, who = event.task, event.actor.user_id, render_author(event)
        if event.kind is EventKind.CREATED:
            if event.origin is not None:  # taken in from the task system: its assignees hear
                return self._dm_assignees(task, task.assignees, actor, who, intro="assigned you")
            return self._post_new_task(task, actor, who)
        if event.kind is EventKind.ASSIGNED:
            return self._dm_assignees(task, event.assignees, actor, who, intro="assigned you")
        if event.kind is EventKind.UNASSIGNED:
            for user in self._users_of(task.team_id, event.assignees):
                self._dm_text(task.team_id, user, f"{who} unassigned you from {task_name(task)}.")
        elif event.kind is EventKind.PART_DONE and actor != task.assignor:
            self._dm_text(task.team_id, task.assignor, _progress_text(task, who, done=True))
        elif event.kind is EventKind.PART_UNDONE and actor != task.assignor:
            self._dm_text(task.team_id, task.assignor, _progress_text(task, who, done=False))
        elif event.kind is EventKind.COMPLETED and actor != task.assignor:
            self._dm_text(
                task.team_id,
                task.assignor,
                f":white_check_mark: {task_name(task)} is completed (last by {who}).",
            )
        elif event.kind is EventKind.REOPENED:
            for user in self._users_of(task.team_id, task.assignees):
                if user != actor:
                    self._dm_text(
                        task.team_id,
                        user,
                        f":leftwards_arrow_with_hook: {who} reopened {task_name(task)}.",
                    )
        elif event.kind is EventKind.COMMENTED and event.comment is not None:
            self._post_comment(task, actor, who, event.comment)
        elif event.kind is EventKind.COMMENT_EDITED and event.comment is not None:
            self._edit_comment(task, who, event.comment)
        elif event.kind is EventKind.COMMENT_DELETED and event.comment is not None:
            self._delete_comment(task, event.comment)
        return set()

    def _post_new_task(self, task: Task, actor: str, who: str) -> set[tuple[str, str]]:
        posted: set[tuple[str, str]] = set()
        if task.channel_id:
            card = self._post_card(task, task.channel_id, CardKind.CHANNEL, viewer=None)
            if card is None:
                self._dm_text(
                    task.team_id,
                    actor,
                    f":warning: I saved *{task.handle}* but couldn't post its card in "
                    f"{render_channel(task.channel_id)}. Invite me there with `/invite @taskbot`, "
                    f"or use `/task show {task.handle}`.",
                )
            else:
                posted.add((card.channel_id, card.message_ts))
        else:
            card = self._post_card(task, task.assignor, CardKind.ASSIGNOR_DM, viewer=task.assignor)
            if card is not None:
                posted.add((card.channel_id, card.message_ts))
        posted |= self._dm_assignees(task, task.assignees, actor, who, intro="assigned you")
        return posted

    def _dm_assignees(
        self, task: Task, assignees: Iterable[object], actor: str, who: str, *, intro: str
    ) -> set[tuple[str, str]]:
        posted: set[tuple[str, str]] = set()
        for user in self._users_of(task.team_id, assignees):
            if user == actor and user == task.assignor:
                continue  # you don't need a DM about what you just did to yourself
            card = self._post_card(
                task,
                user,
                CardKind.ASSIGNEE_DM,
                viewer=user,
                text=f"{who} {intro} {task_name(task)}",
            )
            if card is not None:
                posted.add((card.channel_id, card.message_ts))
        return posted

    def _post_comment(self, task: Task, author: str, who: str, comment: Comment) -> None:
        cards = self._cards.for_task(task.team_id, task.id)
        threads = [c for c in cards if c.kind is CardKind.CHANNEL] or [
            c for c in cards if c.user_id != author and c.kind is not CardKind.REMINDER_DM
        ]
        for card in threads:
            answer, _ = self._call(
                task,
                "chat.postMessage",
                partial(
                    self._post,
                    task.team_id,
                    card.channel_id,
                    thread_ts=card.message_ts,
                    text=f"{who}: {escape(comment.text)}",
                ),
            )
            if answer is not None and self._threads is not None:
                try:  # so an edit or deletion made in a task system reaches this message
                    self._threads.add_message(
                        task.team_id, comment.id, answer["channel"], answer["ts"]
                    )
                except Exception:
                    log.exception("recording a comment's message failed team=%s", task.team_id)

    def _edit_comment(self, task: Task, who: str, comment: Comment) -> None:
        """A comment edited in the task system: its thread messages say the new words."""
        if self._threads is None:
            return
        gone: list[tuple[str, str]] = []
        for channel, ts in self._threads.messages(task.team_id, comment.id):
            _, error = self._call(
                task,
                "chat.update",
                partial(
                    self._clients(task.team_id).chat_update,
                    channel=channel,
                    ts=ts,
                    text=f"{who}: {escape(comment.text)} _(edited)_",
                ),
                quiet={*GONE, *UNEDITABLE},
            )
            if error in GONE:
                gone.append((channel, ts))
        if gone:
            self._threads.forget_messages(task.team_id, gone)

    def _delete_comment(self, task: Task, comment: Comment) -> None:
        """A comment deleted in the task system: its thread messages go too."""
        if self._threads is None:
            return
        done: list[tuple[str, str]] = []
        for channel, ts in self._threads.messages(task.team_id, comment.id):
            _, error = self._call(
                task,
                "chat.delete",
                partial(self._clients(task.team_id).chat_delete, channel=channel, ts=ts),
                quiet=set(GONE),
            )
            if error is None or error in GONE:
                done.append((channel, ts))
        if done:
            self._threads.forget_messages(task.team_id, done)

    # --- cards ------------------------------------------------------------------------------------

    def _post_card(
        self,
        task: Task,
        channel: str,
        kind: CardKind,
        *,
        viewer: str | None,
        text: str | None = None,
    ) -> CardRef | None:
        message = task_card(
            task,
            viewer=viewer,
            kind=kind,
            capabilities=self._capabilities,
            now=self._clock(),
            next_reminder=reader_next_reminder(self._next_reminder, task, viewer, kind),
        )
        answer, _ = self._call(
            task,
            "chat.postMessage",
            lambda: self._post(
                task.team_id, channel, text=text or message.text, blocks=message.blocks
            ),
        )
        if answer is None:
            return None
        card = CardRef(
            team_id=task.team_id,
            task_id=task.id,
            channel_id=answer["channel"],
            message_ts=answer["ts"],
            kind=kind,
            user_id=viewer,
        )
        self._cards.add(card, task.version)
        return card

    def _refresh_cards(self, task: Task, *, skip: set[tuple[str, str]]) -> None:
        for card in self._cards.for_task(task.team_id, task.id):
            if (card.channel_id, card.message_ts) not in skip:
                self.refresh_card(task, card, wait=CLAIM_WAIT_SECONDS)

    def refresh_reader(self, task: Task, user_id: str) -> None:
        """After a person's reminders changed in the ledger (one sent, hours re-planned): their
        own cards of the task name the next reminder again, at the same task version. One
        ``chat.update`` per card of theirs (one, usually); none for anyone else's. Never waits
        for another writer: a card it can't claim now is left behind for the card sweep."""
        for card in self._cards.mark_reader(task.team_id, task.id, user_id):
            self.refresh_card(task, card)

    def refresh_card(self, task: Task, card: CardRef, *, wait: float = 0.0) -> None:
        """Show ``task`` in one card, unless the card shows it or a newer version already.

        Compare-and-set before the Slack call (see ``storage.task_cards``): the claim orders the
        writes of one card across processes. A failed call records nothing, so the card stays
        behind and the card sweep writes it again; a gone message is forgotten, and one Slack
        will never let us edit is recorded as done so it isn't retried for ever."""
        claim = self._cards.claim(card.channel_id, card.message_ts, task.version, wait=wait)
        if claim is None:
            return
        error: str | None = "not called"
        try:
            message = task_card(
                task,
                viewer=card.user_id,
                kind=card.kind,
                capabilities=self._capabilities,
                now=self._clock(),
                next_reminder=reader_next_reminder(
                    self._next_reminder, task, card.user_id, card.kind
                ),
            )
            _, error = self._call(
                task,
                "chat.update",
                partial(
                    self._clients(task.team_id).chat_update,
                    channel=card.channel_id,
                    ts=card.message_ts,
                    text=message.text,
                    blocks=message.blocks,
                ),
                quiet={*GONE, *UNEDITABLE},
            )
        finally:
            self._cards.settle(claim, shown=error is None or error in UNEDITABLE)
        if error in GONE:
            self._cards.remove(card.team_id, card.channel_id, card.message_ts)

    # --- helpers ----------------------------------------------------------------------------------

    def _users_of(self, team_id: str, assignees: Iterable[object]) -> list[str]:
        """User assignees, and the members of group assignees (up to MAX_GROUP_DMS each)."""
        users: list[str] = []
        for assignee in assignees:
            kind = getattr(assignee, "kind", None)
            ident = getattr(assignee, "id", "")
            if kind is AssigneeKind.USER:
                members: Iterable[str] = [ident]
            else:
                try:
                    members = sorted(self._directory.group_members(team_id, ident))[:MAX_GROUP_DMS]
                except Exception:
                    log.warning("could not expand group team=%s group=%s", team_id, ident)
                    members = []
            users.extend(m for m in members if m not in users)
        return users

    def _dm_text(self, team_id: str, user: str, text: str) -> None:
        try:
            self._post(team_id, user, text=text)
        except SlackApiError as exc:
            log.warning(
                "DM failed team=%s user=%s error=%s", team_id, user, exc.response.get("error")
            )

    def _call(
        self,
        task: Task,
        method: str,
        call: Callable[[], object],
        *,
        quiet: set[str] | None = None,
    ) -> tuple[dict[str, str] | None, str | None]:
        """Run one Web API call; a Slack error is logged and returned, never raised."""
        try:
            answer = call()
        except SlackApiError as exc:
            error = exc.response.get("error")
            level = logging.INFO if quiet and error in quiet else logging.WARNING
            log.log(
                level,
                "%s failed team=%s task=%s error=%s",
                method,
                task.team_id,
                task.handle,
                error,
            )
            return None, str(error)
        return answer, None  # type: ignore[return-value]


def _progress_text(task: Task, who: str, *, done: bool) -> str:
    verb = "marked their part done on" if done else "marked their part not done on"
    parts = ", ".join(
        f"{render_assignee(p.assignee)} {'done' if p.state is PartState.DONE else 'pending'}"
        for p in task.parts
    )
    progress = f"{task.done_count} of {len(task.parts)} done: {parts}"
    head = f"{who} {verb} {task_name(task)}."
    if task.is_completed:
        return f":white_check_mark: {head} {progress}"
    return f"{head} {progress}"
