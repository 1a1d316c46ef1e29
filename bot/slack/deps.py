"""What listeners and their after-ack jobs need, handed over by ``bot.bootstrap``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.service.ports import Clock, HomeClaims, Notifier
from bot.service.tasks import TaskService
from bot.slack.clients import ClientProvider
from bot.slack.directory import SlackDirectory


class JobPayload(BaseModel):
    """A job's typed payload, stored as JSON; ``KIND`` names its handler and ``VERSION`` its
    shape (a worker refuses a version it doesn't know rather than guess)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    KIND: ClassVar[str]
    VERSION: ClassVar[int] = 1


class Jobs(Protocol):
    def submit(self, payload: JobPayload, key: str, *, request_id: str | None = None) -> bool:
        """Write the job durably (call before ``ack()``); False when that failed."""
        ...


@dataclass(frozen=True)
class SlackDeps:
    service: TaskService
    directory: SlackDirectory
    clients: ClientProvider
    clock: Clock
    jobs: Jobs
    notifier: Notifier | None = None  # what the outbox's notification jobs go through
    homes: HomeClaims | None = None  # serialises Home publishes across processes


P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class JobKind(Generic[P]):
    """A job kind: its payload model and what runs it after the ack."""

    model: type[P]
    run: Callable[[SlackDeps, P], None]
    version: int = 1


AnyJob = JobKind[Any]
