"""Registers listeners on a Bolt app and records every id, so the manifest can be checked
against what the running app really handles (tests/test_manifest.py).

Bolt answers Slack when a listener returns (``process_before_response``): a listener persists its
job, acks and returns. Anything slow that the answer need not wait for (opening a modal, telling
someone a save failed) goes to ``after_ack``, which runs it on the listener pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Bolt's types only: a worker never imports slack_bolt
    from slack_bolt import App


log = logging.getLogger(__name__)

Listener = Callable[..., Any]


@dataclass
class Registered:
    commands: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    views: set[str] = field(default_factory=set)
    shortcuts: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)


class Registrar:
    def __init__(self, app: App, pool: Executor) -> None:
        self.app = app
        self.registered = Registered()
        self._pool = pool

    def after_ack(self, work: Callable[[], object]) -> None:
        """Run ``work`` on the listener pool, so Slack's answer doesn't wait for it."""

        def run() -> None:
            try:
                work()
            except Exception:  # nobody waits on the future: say it here
                log.exception("after-ack work failed")

        try:
            self._pool.submit(run)
        except RuntimeError:  # the pool has shut down: the process is stopping
            log.warning("after-ack work dropped: the process is stopping")

    def command(self, name: str, listener: Listener) -> None:
        self.registered.commands.add(name)
        self.app.command(name)(listener)

    def action(self, action_id: str, listener: Listener) -> None:
        self.registered.actions.add(action_id)
        self.app.action(action_id)(listener)

    def view(self, callback_id: str, listener: Listener) -> None:
        self.registered.views.add(callback_id)
        self.app.view(callback_id)(listener)

    def shortcut(self, callback_id: str, listener: Listener) -> None:
        self.registered.shortcuts.add(callback_id)
        self.app.shortcut(callback_id)(listener)

    def event(self, event_type: str, listener: Listener) -> None:
        self.registered.events.add(event_type)
        self.app.event(event_type)(listener)
