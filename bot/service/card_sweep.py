"""The card sweep: cards that fell behind their task are written again, so cards converge.

A task's save marks its cards as wanting the new version in the same transaction, and a card
records the version it shows only once Slack took it; so a process killed between the two, a
failed Slack call, or a write that lost its claim all leave cards the store lists as behind. Each
pass takes a bounded batch of them (through an index of behind cards only), loads each task from
taskbot's store (which holds every backend's tasks) and writes it. Imports the domain and the
service ports only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.domain.models import Task
from bot.service.ports import CardRefresher, TaskCards

log = logging.getLogger(__name__)

BATCH = 100  # cards per pass; the next pass takes the rest


class CardSweep:
    def __init__(
        self,
        cards: TaskCards,
        load: Callable[[str], Task | None],
        refresher: CardRefresher,
        *,
        batch: int = BATCH,
    ) -> None:
        self._cards = cards
        self._load = load
        self._refresher = refresher
        self._batch = batch

    def run_once(self) -> int:
        """One pass; returns how many behind cards it wrote (or tried to)."""
        behind = self._cards.behind(self._batch)
        tasks: dict[str, Task | None] = {}
        for card in behind:
            if card.task_id not in tasks:
                tasks[card.task_id] = self._load(card.task_id)
            task = tasks[card.task_id]
            if task is None:  # the task is gone from the store: nothing to show
                self._cards.remove(card.team_id, card.channel_id, card.message_ts)
                continue
            try:
                self._refresher.refresh_card(task, card)
            except Exception:  # one card's failure must not stop the others; next pass retries
                log.exception("card sweep failed team=%s task=%s", card.team_id, task.handle)
        if behind:
            log.info("card sweep wrote %d card(s)", len(behind))
        return len(behind)
