"""What listeners and their after-ack jobs need, handed over by ``bot.bootstrap``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.service.ports import Clock, HomeClaims
from bot.service.tasks import TaskService
from bot.slack.background import Background, Payload
from bot.slack.clients import ClientProvider
from bot.slack.directory import SlackDirectory


@dataclass(frozen=True)
class SlackDeps:
    service: TaskService
    directory: SlackDirectory
    clients: ClientProvider
    clock: Clock
    background: Background
    homes: HomeClaims | None = None  # serialises Home publishes across processes


Job = Callable[[SlackDeps, Payload], None]
"""Work after the ack: everything it needs comes from ``deps`` and a plain-data payload."""
