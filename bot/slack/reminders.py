"""Reminder DMs: the task card with snooze buttons, recorded so it updates with the task."""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject

from bot.domain.models import BackendCapabilities, CardKind, CardRef, Task, zone
from bot.domain.reminders import WorkingHours
from bot.service.ports import Clock, TaskCards
from bot.slack import ids
from bot.slack.blocks.card import task_card
from bot.slack.clients import ClientProvider


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
    ) -> None:
        self._clients = clients
        self._cards = cards
        self._capabilities = capabilities
        self._clock = clock

    def send_reminder(self, task: Task, user_id: str, *, late: bool) -> None:
        card = task_card(
            task,
            viewer=user_id,
            kind=CardKind.REMINDER_DM,
            capabilities=self._capabilities,
            now=self._clock(),
        )
        headline = (
            f":alarm_clock: Late reminder (I was offline): *{task.handle}* {task.title}"
            if late
            else f":alarm_clock: Reminder: *{task.handle}* {task.title}"
        )
        blocks = [
            ContextBlock(elements=[MarkdownTextObject(text=headline)]),
            *card.blocks,
            snooze_buttons(task),
        ]
        answer = self._clients(task.team_id).chat_postMessage(
            channel=user_id, text=f"{headline} — {card.text}", blocks=blocks
        )
        self._cards.add(
            CardRef(
                team_id=task.team_id,
                task_id=task.id,
                channel_id=answer["channel"],
                message_ts=answer["ts"],
                kind=CardKind.REMINDER_DM,
                user_id=user_id,
            )
        )

    def tell_assignor(self, task: Task, text: str) -> None:
        self._clients(task.team_id).chat_postMessage(channel=task.assignor, text=text)
