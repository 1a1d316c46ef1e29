"""Reminder DMs (the task card with snooze buttons, recorded so it updates with the task), the
assignor's overdue escalation and the daily digest. Every one carries its ledger id as message
metadata, so a sender taking over from one that died can see whether it was already sent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject

from bot.domain.models import Assignee, BackendCapabilities, CardKind, CardRef, Task, zone
from bot.domain.reminders import WorkingHours
from bot.service.ports import Clock, TaskCards
from bot.slack import ids
from bot.slack.blocks.card import task_card
from bot.slack.blocks.task_list import task_list
from bot.slack.clients import ClientProvider
from bot.slack.markup import render_assignee, render_date, render_text, task_name
from bot.slack.notifier import NextReminder, reader_next_reminder


def snooze_buttons(task: Task) -> ActionsBlock:
    value = ids.encode_ref(task.handle, task.version)
    return ActionsBlock(
        block_id=ids.BLOCK_SNOOZE,
        elements=[
            ButtonElement(
                text="Remind me in 1 hour", action_id=ids.ACTION_SNOOZE_HOUR, value=value
            ),
            ButtonElement(
                text="Tomorrow morning", action_id=ids.ACTION_SNOOZE_TOMORROW, value=value
            ),
        ],
    )


def snooze_until(action_id: str, now: datetime, tz: str | None, hours: WorkingHours) -> datetime:
    """1 hour from now, or the start of working hours tomorrow (or the next working day)."""
    if action_id == ids.ACTION_SNOOZE_HOUR:
        return now + timedelta(hours=1)
    tomorrow = (now.astimezone(zone(tz)) + timedelta(days=1)).replace(hour=0, minute=0, second=0)
    return hours.next_start(tomorrow, tz)


class SlackReminderSender:
    def __init__(
        self,
        clients: ClientProvider,
        cards: TaskCards,
        capabilities: BackendCapabilities,
        clock: Clock,
        *,
        next_reminder: NextReminder | None = None,
    ) -> None:
        self._clients = clients
        self._cards = cards
        self._capabilities = capabilities
        self._clock = clock
        self._next_reminder = next_reminder

    def send_reminder(self, task: Task, user_id: str, *, late: bool, reminder_id: int) -> None:
        card = task_card(
            task,
            viewer=user_id,
            kind=CardKind.REMINDER_DM,
            capabilities=self._capabilities,
            now=self._clock(),
            next_reminder=reader_next_reminder(
                self._next_reminder, task, user_id, CardKind.REMINDER_DM
            ),
        )
        headline = (
            f":alarm_clock: Late reminder (I was offline): {task_name(task)}"
            if late
            else f":alarm_clock: Reminder: {task_name(task)}"
        )
        blocks = [
            ContextBlock(elements=[MarkdownTextObject(text=headline)]),
            *card.blocks,
            snooze_buttons(task),
        ]
        answer = self._clients(task.team_id).chat_postMessage(
            channel=user_id,
            text=f"{headline} — {card.text}",
            blocks=blocks,
            metadata=_metadata(reminder_id),
        )
        self._cards.add(
            CardRef(
                team_id=task.team_id,
                task_id=task.id,
                channel_id=answer["channel"],
                message_ts=answer["ts"],
                kind=CardKind.REMINDER_DM,
                user_id=user_id,
            ),
            task.version,
        )

    def escalate(self, task: Task, pending: Sequence[str], *, reminder_id: int) -> None:
        """One DM to the assignor naming who is still pending on an overdue task."""
        by_id = {part.assignee.id: part.assignee for part in task.parts}
        who = ", ".join(render_assignee(by_id[p]) for p in pending if p in by_id)
        due = render_date(
            task.due.instant() if task.due else datetime.fromtimestamp(0, UTC), "earlier"
        )
        text = f":rotating_light: {task_name(task)} is overdue (due {due}). Still pending: {who}."
        self._clients(task.team_id).chat_postMessage(
            channel=task.assignor, text=text, metadata=_metadata(reminder_id)
        )

    def send_digest(
        self, team_id: str, user_id: str, tasks: Sequence[Task], *, reminder_id: int
    ) -> None:
        listing = task_list(
            list(tasks), heading="Your open tasks today", viewer=user_id, now=self._clock()
        )
        self._clients(team_id).chat_postMessage(
            channel=user_id,
            text=f":sunrise: Your daily digest — {listing.text}",
            blocks=listing.blocks,
            metadata=_metadata(reminder_id),
        )

    def already_sent(
        self, team_id: str, user_id: str, reminder_id: int, *, since: datetime
    ) -> bool:
        """Whether the DM for this ledger entry is in the person's DM with the bot."""
        client = self._clients(team_id)
        channel = client.conversations_open(users=user_id)["channel"]["id"]
        cursor = None
        while True:
            page = client.conversations_history(
                channel=channel,
                oldest=f"{since.timestamp():.6f}",
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT
                    and payload.get("reminder_id") == reminder_id
                ):
                    return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False

    def tell_assignor(self, task: Task, text: str, refs: Sequence[Assignee] = ()) -> None:
        self._clients(task.team_id).chat_postMessage(
            channel=task.assignor, text=render_text(text, refs)
        )


METADATA_EVENT = "taskbot_reminder"


def _metadata(reminder_id: int) -> dict[str, object]:
    """Message metadata naming the ledger entry a DM delivers (read back by ``already_sent``)."""
    return {"event_type": METADATA_EVENT, "event_payload": {"reminder_id": reminder_id}}
