"""Ports: what the service needs from the outside world, as Protocols.

Adapters implement them structurally (no import of this module needed): ``bot.backends`` the
``TaskBackend``, ``storage`` the repositories, ``bot.slack`` the ``Notifier`` and ``Directory``.
Imports only ``bot.domain``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from bot.domain.events import Effect, TaskEvent
from bot.domain.links import UserLink
from bot.domain.models import (
    Assignee,
    AssigneeKind,
    BackendCapabilities,
    CardClaim,
    CardRef,
    Task,
    TaskDraft,
    TaskQuery,
)
from bot.domain.reminders import PlannedReminder, ReminderSettings

Clock = Callable[[], datetime]
"""Returns an aware UTC ``datetime``; tests pass a fake one."""

PRIVILEGE_MAX_AGE = timedelta(seconds=60)
"""Admin and owner status used to manage a task or a link is at most this old."""


class TaskBackend(Protocol):
    """One task system. Every call is scoped by workspace (Slack team id).

    The service computes a task's new state with the domain rules and hands it to ``save``;
    a backend that lacks a rule natively drives its system to that end state.
    """

    name: str
    capabilities: BackendCapabilities

    def create(self, draft: TaskDraft, now: datetime) -> Task:
        """Store a validated draft; the backend gives the id and the workspace handle (``T-n``)."""
        ...

    def get(self, team_id: str, handle: str) -> Task:
        """The task with this handle; NotFound if none. Deleted tasks raise NotFound too."""
        ...

    def save(self, task: Task, expected_version: int) -> Task:
        """Write ``task`` if the stored version is still ``expected_version``, else Conflict."""
        ...

    def delete(self, team_id: str, handle: str, expected_version: int) -> None:
        """Delete the task; Conflict on a stale version, NotFound if already gone."""
        ...

    def list(self, query: TaskQuery) -> list[Task]:
        """Open tasks for a view, soonest due first, then by handle."""
        ...

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        """The backend's assignee id for an email, if its directory knows exactly one."""
        ...


class PendingSignIn(BaseModel):
    """A sign-in someone started with ``/task link``: for whom, and where it continues."""

    model_config = ConfigDict(frozen=True)

    team_id: str
    slack_id: str
    url: str


class SignedIn(BaseModel):
    """Who signed in to the task system for a sign-in, before anything is kept: checked first."""

    model_config = ConfigDict(frozen=True)

    team_id: str
    slack_id: str  # whom the sign-in was for
    account_id: str  # the account that signed in
    email: str | None  # that account's email, as the task system says


ConfirmOwner = Callable[[SignedIn], None]  # raises NotPermitted when the account isn't theirs


@runtime_checkable
class AppliesOnce(Protocol):
    """A backend that applies a keyed change once and queues its notifications with it, in one
    transaction of taskbot's store (see ``bot.domain.events.Effect``). A replay raises
    AlreadyApplied carrying the task as it is now."""

    def create_once(self, draft: TaskDraft, now: datetime, effect: Effect) -> Task: ...

    def save_once(self, task: Task, expected_version: int, effect: Effect) -> Task: ...


@runtime_checkable
class AccountLinking(Protocol):
    """A backend where people link their own account by signing in there (OAuth)."""

    def authorize_url(self, team_id: str, slack_id: str, now: datetime) -> str:
        """A new single-use sign-in for this person: the taskbot link that starts it."""
        ...

    def sign_in_url(self, state: str, now: datetime) -> PendingSignIn:
        """Whose sign-in an open ``state`` is, and the task system's page for it
        (NotPermitted when the state is unknown, used or expired)."""
        ...

    def complete_link(
        self, code: str, state: str, now: datetime, confirm: ConfirmOwner
    ) -> tuple[str, str, str]:
        """The sign-in's answer, ``state`` used up: (team, Slack user, account id), with tokens
        stored and link set together, or neither (NotPermitted) when ``confirm`` refuses the
        account or it is taken. ``confirm`` runs before anything is stored."""
        ...


@runtime_checkable
class Categorised(Protocol):
    """A backend whose tasks go into categories (LINE WORKS)."""

    def categories(self, team_id: str, slack_id: str) -> list[tuple[str, str]]:
        """(id, name) of the person's categories; empty when they can't be read quickly."""
        ...


@runtime_checkable
class GroupDirectory(Protocol):
    """A backend whose user groups can be found by name (links made without an admin)."""

    def find_group_by_name(self, team_id: str, name: str) -> str | None:
        """The backend's group id for a name, if exactly one group has it."""
        ...


@dataclass(frozen=True)
class Pulled:
    """One task a sync pass found changed in the task system, already stored.

    ``before`` is None for a task new to taskbot (made or assigned in the system itself, taken
    in by the pass); ``by`` is the Slack user the system names as the change's author, when
    that person is linked (None: the change is told as made in the system)."""

    after: Task
    before: Task | None = None
    by: str | None = None


@runtime_checkable
class Mirroring(Protocol):
    """A backend whose tasks also live in taskbot's store and can change in the system's own UI.

    ``pull`` stores and returns every task changed there since taskbot last wrote it (and every
    task taken in from there); a change made in Slack meanwhile is never overwritten, and
    taskbot's own writes read back are not changes."""

    def pull(self, now: datetime) -> Sequence[Pulled]: ...


class SyncRecorder(Protocol):
    """Where each backend-sync pass is recorded (``storage``), so ``taskbot status`` can say when
    a task system was last read, and whether that pass failed, from the database alone."""

    def record(
        self, backend: str, at: datetime, changed: int | None, error: str | None
    ) -> None: ...


class HomeClaims(Protocol):
    """One App Home publish at a time per person, across processes (``storage``)."""

    def held(self, team_id: str, user_id: str, *, wait: float) -> AbstractContextManager[bool]: ...


class CardRefresher(Protocol):
    """Writes one task into one card, compare-and-set on its version (``bot.slack``)."""

    def refresh_card(self, task: Task, card: CardRef, *, wait: float = 0.0) -> None: ...


class CommentThreads(Protocol):
    """Which Slack thread messages show which comment (``storage.comment_links``), so an edit or
    a deletion made in a task system reaches them."""

    def add_message(
        self, team_id: str, comment_id: str, channel_id: str, message_ts: str
    ) -> None: ...

    def messages(self, team_id: str, comment_id: str) -> list[tuple[str, str]]: ...

    def forget_messages(self, team_id: str, messages: Sequence[tuple[str, str]]) -> None: ...


class Notifier(Protocol):
    """Tells people what happened (DMs, card updates); implemented by ``bot.slack``.

    Called after the change is stored; a failure to notify never undoes the change.
    """

    def notify(self, events: Sequence[TaskEvent]) -> None: ...

    def tell(self, team_id: str, user_id: str, text: str) -> None:
        """A DM to one person (e.g. how to link their account)."""
        ...


class Person(BaseModel):
    """What the service needs to know about a Slack user."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    tz: str | None = None
    is_admin: bool = False
    email: str | None = None
    name: str | None = None
    is_bot: bool = False


class Directory(Protocol):
    """Who people are (Slack users.info, user groups); implemented by ``bot.slack``."""

    def person(self, team_id: str, user_id: str, *, max_age: timedelta | None = None) -> Person:
        """``max_age``: the answer must have been read from Slack at most that long ago."""
        ...

    def group_members(self, team_id: str, group_id: str) -> frozenset[str]: ...

    def groups_of(self, team_id: str, user_id: str) -> frozenset[str]: ...

    def find_by_email(self, team_id: str, email: str) -> str | None: ...

    def group_name(self, team_id: str, group_id: str) -> str | None:
        """The user group's handle (``ops`` for @ops), or None if unknown."""
        ...


class ChannelAccess(Protocol):
    """Whether a task's card may go to a channel (``bot.slack``): checked before a task is made."""

    def check_channel(self, team_id: str, channel_id: str, user_id: str) -> None:
        """Raise InvalidInput (field ``channel``) unless ``user_id`` is a member of the channel
        and the bot can post there."""
        ...


class TaskCards(Protocol):
    """Which Slack messages show which task, so every copy can be updated (``storage``)."""

    def add(self, card: CardRef, version: int = 0) -> None: ...

    def for_task(self, team_id: str, task_id: str) -> list[CardRef]: ...

    def remove(self, team_id: str, channel_id: str, message_ts: str) -> None: ...

    def claim(
        self, channel_id: str, message_ts: str, version: int, *, wait: float = 0.0
    ) -> CardClaim | None:
        """Compare-and-set: the right to write ``version`` into the card, None to skip it."""
        ...

    def settle(self, claim: CardClaim, *, shown: bool) -> None: ...

    def behind(self, limit: int) -> list[CardRef]:
        """Cards showing an older version than their task's, or an older next reminder of their
        reader's (the card sweep's work)."""
        ...

    def mark_reader(self, team_id: str, task_id: str, user_id: str) -> list[CardRef]:
        """The reader's next reminder changed: their own cards of the task are behind it."""
        ...


class ReminderLedger(Protocol):
    """The store's reminder ledger, as the planner sees it (``storage.reminder_ledger``)."""

    def replace_pending(
        self, team_id: str, task_id: str, planned: Iterable[PlannedReminder], handle: str = ""
    ) -> None: ...

    def add(self, team_id: str, task_id: str, handle: str, item: PlannedReminder) -> None: ...

    def replace_digest(self, team_id: str, user_id: str, item: PlannedReminder | None) -> None: ...

    def pending_handles(self, team_id: str, user_id: str) -> list[str]: ...

    def sent_instants(self, team_id: str, task_id: str) -> set[tuple[str, datetime]]: ...

    def next_reminder(self, team_id: str, task_id: str, user_id: str) -> datetime | None: ...


class UserMapStore(Protocol):
    """Links of Slack people to backend assignee ids (``storage.user_map``)."""

    def get(self, team_id: str, backend: str, slack_id: str) -> UserLink | None: ...

    def by_assignee(
        self, team_id: str, backend: str, kind: AssigneeKind, assignee_id: str
    ) -> UserLink | None: ...

    def set(self, mapping: UserLink, *, force: bool = False) -> None: ...

    def set_all(self, mappings: list[UserLink], *, force: bool = False) -> None: ...

    def remove(self, team_id: str, backend: str, slack_id: str) -> bool: ...

    def list_all(self) -> list[UserLink]: ...

    def list(self, team_id: str, backend: str) -> list[UserLink]: ...


class UserSettingsStore(Protocol):
    """People's reminder settings (``storage.user_settings``)."""

    def get(self, team_id: str, user_id: str) -> ReminderSettings | None: ...

    def put(
        self, team_id: str, user_id: str, settings: ReminderSettings, now: datetime
    ) -> None: ...


class ReminderSender(Protocol):
    """Delivers reminder DMs (``bot.slack.reminders``); raises when it can't.

    Each DM carries its ledger id, so ``already_sent`` can tell whether a sender that died
    mid-send got it out (the message is then not sent again).
    """

    def send_reminder(self, task: Task, user_id: str, *, late: bool, reminder_id: int) -> None: ...

    def escalate(self, task: Task, pending: Sequence[str], *, reminder_id: int) -> None: ...

    def send_digest(
        self, team_id: str, user_id: str, tasks: Sequence[Task], *, reminder_id: int
    ) -> None: ...

    def already_sent(
        self, team_id: str, user_id: str, reminder_id: int, *, since: datetime
    ) -> bool: ...

    def tell_assignor(self, task: Task, text: str, refs: Sequence[Assignee] = ()) -> None:
        """``text`` names people by reference (``bot.domain.naming``), never by markup."""
