"""The reader's next reminder on a card: looked up only for a card one person reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.domain import rules
from bot.domain.models import Actor, CardKind
from bot.slack.blocks.card import task_card
from bot.slack.notifier import reader_next_reminder
from tests.slack.blocks.test_card import CAPS, NOW, make

FRIDAY = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)


def test_only_cards_for_one_open_reader_ask_for_it() -> None:
    asked: list[tuple[str, str, str]] = []

    def lookup(team_id: str, task_id: str, user_id: str) -> datetime:
        asked.append((team_id, task_id, user_id))
        return FRIDAY

    task = make()
    assert reader_next_reminder(lookup, task, "UANA", CardKind.ASSIGNEE_DM) == FRIDAY
    assert reader_next_reminder(lookup, task, "UANA", CardKind.REMINDER_DM) == FRIDAY
    assert reader_next_reminder(lookup, task, None, CardKind.CHANNEL) is None
    done = rules.complete_task(task, Actor(team_id="T1", user_id="UBOSS"), NOW)
    assert reader_next_reminder(lookup, done, "UANA", CardKind.ASSIGNEE_DM) is None
    assert reader_next_reminder(None, task, "UANA", CardKind.ASSIGNEE_DM) is None
    assert asked == [("T1", "x", "UANA")] * 2


def test_the_card_shows_it_in_the_readers_zone_with_slacks_date_token() -> None:
    card = task_card(
        make(),
        viewer="UANA",
        kind=CardKind.ASSIGNEE_DM,
        capabilities=CAPS,
        now=NOW,
        next_reminder=FRIDAY,
    )
    text = json.dumps([b.to_dict() for b in card.blocks])
    assert "*Next reminder:* <!date^1795797000^{date_short_pretty} at {time}|" in text
    plain = task_card(make(), viewer="UANA", kind=CardKind.ASSIGNEE_DM, capabilities=CAPS, now=NOW)
    assert "Next reminder" not in json.dumps([b.to_dict() for b in plain.blocks])
