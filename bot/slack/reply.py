"""Telling the person who acted what came of it, wherever Slack lets us.

A slash command or a message button comes with a ``response_url`` (ephemeral replies); a modal or
App Home click does not, so the reply goes by DM. Every failure of the work is turned into a
message by ``bot.slack.errors``. May import slack_bolt/slack_sdk and ``bot.domain``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient

from bot.slack.errors import person_message

log = logging.getLogger(__name__)
T = TypeVar("T")


class Reply:
    """Ephemeral via the ``response_url`` when there is one, else a DM from the bot.

    The response_url is posted with slack_sdk's webhook client (what Bolt's ``respond`` does), so
    a worker that runs jobs never needs slack_bolt."""

    def __init__(
        self,
        *,
        client: WebClient,
        user_id: str,
        response_url: str | None = None,
        replace_original: bool = False,
    ) -> None:
        self._client = client
        self._user_id = user_id
        self._response_url = response_url
        self._replace = replace_original

    def send(self, text: str, blocks: Sequence[Block | dict[str, Any]] | None = None) -> None:
        try:
            if self._response_url is not None:
                answer = WebhookClient(self._response_url).send(
                    text=text,
                    blocks=list(blocks) if blocks else None,
                    response_type="ephemeral",
                    replace_original=self._replace,
                )
                if answer.status_code >= 300:  # expired (30 min, 5 uses): Slack says so here
                    log.warning(
                        "reply to user=%s failed: response_url answered %s",
                        self._user_id,
                        answer.status_code,
                    )
            else:
                self._client.chat_postMessage(
                    channel=self._user_id, text=text, blocks=list(blocks) if blocks else None
                )
        except (SlackApiError, OSError) as exc:  # the reply itself failed: only the log is left
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else exc
            log.warning("reply to user=%s failed: %s", self._user_id, reason)

    def attempt(self, work: Callable[[], T], **context: object) -> T | None:
        """Run ``work``; on failure tell the person why and return None."""
        try:
            return work()
        except Exception as exc:  # every failure becomes a message for the person
            self.send(person_message(exc, context={"user": self._user_id, **context}))
            return None
