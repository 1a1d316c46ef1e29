"""Typed domain errors, turned into what a person sees in one place of the Slack layer.

Imports nothing but the domain models (for ``Conflict.current``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain.naming import plain

if TYPE_CHECKING:
    from bot.domain.models import Assignee, Task


class DomainError(Exception):
    """Base of every error a person can act on; ``message`` is written for that person.

    ``template`` may name people by reference (``{@0}``, see ``bot.domain.naming``) so the chat
    layer can render them; ``message`` is the same text with the references in plain words.
    """

    def __init__(self, message: str, *, refs: Sequence[Assignee] = ()) -> None:
        self.template = message
        self.refs: tuple[Assignee, ...] = tuple(refs)
        self.message = plain(message, self.refs)
        super().__init__(self.message)


class NotFound(DomainError):
    """The task (or mapping) does not exist in this workspace, or was deleted."""


class NotPermitted(DomainError):
    """The actor may not do this to this task (DESIGN.md "Who may do what")."""


class Conflict(DomainError):
    """The change was based on a stale version; ``current`` is the task as it is now."""

    def __init__(self, message: str, current: Task, *, refs: Sequence[Assignee] = ()) -> None:
        super().__init__(message, refs=refs)
        self.current = current


class ChangedThere(Conflict):
    """The task system holds a newer change of the same thing, made there meanwhile (e.g. a
    reassignment): the person is shown it, and it is never retried over, even for a typed
    command, which otherwise re-applies its rule to the fresh copy."""


class AlreadyApplied(DomainError):
    """A keyed change (a replayed Slack interaction) was applied before; ``current`` is the task
    as it is now. Its notifications were queued with that first change."""

    def __init__(self, message: str, current: Task) -> None:
        super().__init__(message)
        self.current = current


class InvalidInput(DomainError):
    """Bad input, per field, so a modal can show each message beside its field.

    ``errors`` maps a field name (``title``, ``due``, ``assignees``, …) to a message.
    """

    def __init__(self, errors: dict[str, str], *, refs: Sequence[Assignee] = ()) -> None:
        super().__init__("; ".join(errors.values()), refs=refs)
        self.errors = dict(errors)


class BackendUnavailable(DomainError):
    """The task system did not answer usefully (timeout, 5xx, refused credentials, …)."""
