"""What the listeners need, handed over by ``bot.bootstrap`` in one object."""

from __future__ import annotations

from dataclasses import dataclass

from bot.service.ports import Clock
from bot.service.tasks import TaskService
from bot.slack.background import Background
from bot.slack.clients import ClientProvider
from bot.slack.directory import SlackDirectory


@dataclass(frozen=True)
class SlackDeps:
    service: TaskService
    directory: SlackDirectory
    clients: ClientProvider
    clock: Clock
    background: Background
