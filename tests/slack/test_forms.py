"""Reading the create, comment and reassign modals' state into domain inputs."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from bot.domain.errors import InvalidInput
from bot.domain.models import Assignee, CompletionCondition
from bot.slack import ids
from bot.slack.forms import (
    field_block_id,
    parse_comment_form,
    parse_create_form,
    parse_reassign_form,
    parse_settings_form,
)
from tests.e2e.test_reminder_settings import settings_form

STATE = json.loads(
    (Path(__file__).parents[1] / "fixtures/slack/views/create_task.state.json").read_text()
)
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def values() -> dict[str, Any]:
    return copy.deepcopy(STATE["values"])


def parse(state: dict[str, Any], tz: str | None = "Asia/Tokyo") -> Any:
    return parse_create_form(
        state,
        team_id="T1",
        assignor="UBOSS",
        assignor_tz=tz,
        now=NOW,
        default_channel="CDEF",
        attachments=(),
    )


def test_full_form() -> None:
    draft = parse(values())
    assert draft.title == "Write quarterly report"
    assert draft.assignees == (Assignee.user("U123"), Assignee.user("U234"), Assignee.group("S777"))
    assert draft.condition is CompletionCondition.MUST_ALL
    assert draft.channel_id == "C0PROJECT"
    assert draft.due is not None and (draft.due.date, draft.due.time) == (
        date(2027, 1, 15),
        time(9),
    )
    assert draft.due.instant() == datetime(2027, 1, 15, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo


def test_no_assignees_means_the_creator() -> None:
    state = values()
    state.pop("groups")
    state["assignees"]["value"]["selected_users"] = []
    assert parse(state).assignees == (Assignee.user("UBOSS"),)


def test_a_time_without_a_date_is_an_error_on_due() -> None:
    state = values()
    state.pop("due")
    with pytest.raises(InvalidInput) as caught:
        parse(state)
    assert caught.value.errors == {"due": "Pick a date for the due time."}


def test_unknown_zone_reads_times_as_utc() -> None:
    draft = parse(values(), tz=None)
    assert draft.due is not None and draft.due.tz == "UTC"


def test_comment_and_reassign_forms() -> None:
    with pytest.raises(InvalidInput):
        parse_comment_form({ids.BLOCK_COMMENT: {ids.ELEMENT: {"value": "   "}}})
    assert parse_comment_form({ids.BLOCK_COMMENT: {ids.ELEMENT: {"value": " ok "}}}) == "ok"
    with pytest.raises(InvalidInput, match="at least one"):
        parse_reassign_form({})
    assert parse_reassign_form(values()) == [
        Assignee.user("U123"),
        Assignee.user("U234"),
        Assignee.group("S777"),
    ]


def test_a_one_assignee_reassign_form_clears_when_empty_and_refuses_two() -> None:
    rule = "One assignee per task in Maxsight: assigning replaces"
    assert parse_reassign_form({}, one=rule) == []
    with pytest.raises(InvalidInput, match="assigning replaces: pick one person or one group"):
        parse_reassign_form(values(), one=rule)


def test_fields_map_to_blocks() -> None:
    assert field_block_id("due") == ids.BLOCK_DUE_DATE
    assert field_block_id("assignees") == ids.BLOCK_ASSIGNEES
    assert field_block_id("whatever") == ids.BLOCK_TITLE


def test_settings_form_reads_hours_days_reminders_and_digest() -> None:

    parsed = parse_settings_form(
        settings_form(start="08:00", end="16:30", days=[0, 2, 4], on=False, digest="07:45")
    )
    assert parsed.hours.start == time(8, 0) and parsed.hours.end == time(16, 30)
    assert parsed.hours.days == frozenset({0, 2, 4})
    assert parsed.reminders_on is False and parsed.digest_at == time(7, 45)
    assert (
        parse_settings_form(settings_form(start="08:00", end="16:30", days=[1])).digest_at is None
    )
    with pytest.raises(InvalidInput) as refused:
        parse_settings_form(settings_form(start="10:00", end="10:00", days=[]))
    assert set(refused.value.errors) == {"end", "days"}
