"""Message shortcut "Create task": the create modal, prefilled from the message.

The modal opens before anything slow (the trigger lives 3 seconds); the message's permalink is
fetched at submission and attached to the task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.domain.models import TITLE_MAX
from bot.slack import ids
from bot.slack.deps import SlackDeps
from bot.slack.listeners.commands import _postable, open_create_modal
from bot.slack.markup import from_slack
from bot.slack.metadata import CreateContext
from bot.slack.registrar import Registrar

if TYPE_CHECKING:  # Bolt's types only: a worker never imports slack_bolt
    from slack_bolt import Ack


def register(registrar: Registrar, deps: SlackDeps) -> None:
    def on_message_shortcut(ack: Ack, shortcut: dict[str, Any], client: WebClient) -> None:
        ack()
        registrar.after_ack(lambda: _open_from_message(deps, client, shortcut))

    registrar.shortcut(ids.SHORTCUT_FROM_MESSAGE, on_message_shortcut)


def _open_from_message(deps: SlackDeps, client: WebClient, shortcut: dict[str, Any]) -> None:
    message = shortcut.get("message") or {}
    text = from_slack(message.get("text") or "").strip()
    channel = (shortcut.get("channel") or {}).get("id")
    first_line = text.splitlines()[0] if text else ""
    context = CreateContext(
        channel_id=_postable(channel),
        source_channel=channel,
        source_ts=message.get("ts") or shortcut.get("message_ts"),
    )
    open_create_modal(
        deps,
        client,
        shortcut,
        title=first_line[:TITLE_MAX],
        description=text,
        context=context,
    )
