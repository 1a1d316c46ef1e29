"""Reading modal submissions (``view.state.values``) into domain inputs.

Plain dicts on purpose: slack_sdk's ViewState can't parse every element's state
(SLACK-NOTES §0.2). Errors are raised as InvalidInput keyed by domain field names; the listener
maps them to block ids with ``field_block_id``. Domain validation itself is the service's job.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from bot.domain.errors import InvalidInput
from bot.domain.models import (
    Assignee,
    Attachment,
    CompletionCondition,
    Due,
    TaskDraft,
)
from bot.domain.reminders import ReminderSettings, WorkingHours
from bot.slack import ids

Values = dict[str, dict[str, dict[str, Any]]]

_BLOCK_OF_FIELD = {
    "title": ids.BLOCK_TITLE,
    "description": ids.BLOCK_DESCRIPTION,
    "assignees": ids.BLOCK_ASSIGNEES,
    "groups": ids.BLOCK_GROUPS,
    "due": ids.BLOCK_DUE_DATE,
    "due_time": ids.BLOCK_DUE_TIME,
    "condition": ids.BLOCK_CONDITION,
    "channel": ids.BLOCK_CHANNEL,
    "comment": ids.BLOCK_COMMENT,
    "start": ids.BLOCK_WORK_START,
    "end": ids.BLOCK_WORK_END,
    "days": ids.BLOCK_WORK_DAYS,
    "reminders": ids.BLOCK_REMINDERS_ON,
    "digest": ids.BLOCK_DIGEST_AT,
}


def field_block_id(field: str) -> str:
    """The modal block that shows a domain field's error (unknown fields: the title)."""
    return _BLOCK_OF_FIELD.get(field, ids.BLOCK_TITLE)


def _element(values: Values, block_id: str) -> dict[str, Any]:
    return (values.get(block_id) or {}).get(ids.ELEMENT) or {}


def _text(values: Values, block_id: str) -> str:
    return str(_element(values, block_id).get("value") or "")


def _assignees(values: Values) -> tuple[Assignee, ...]:
    users = _element(values, ids.BLOCK_ASSIGNEES).get("selected_users") or []
    groups = [o["value"] for o in _element(values, ids.BLOCK_GROUPS).get("selected_options") or []]
    return tuple(Assignee.user(u) for u in users) + tuple(Assignee.group(g) for g in groups)


def parse_create_form(
    values: Values,
    *,
    team_id: str,
    assignor: str,
    assignor_tz: str | None,
    now: datetime,
    default_channel: str | None,
    attachments: tuple[Attachment, ...],
) -> TaskDraft:
    errors: dict[str, str] = {}
    due: Due | None = None
    day_text = _element(values, ids.BLOCK_DUE_DATE).get("selected_date")
    time_text = _element(values, ids.BLOCK_DUE_TIME).get("selected_time")
    try:
        day = date.fromisoformat(day_text) if day_text else None
        at = time.fromisoformat(time_text) if time_text else None
    except ValueError:
        errors["due"] = "I can't read that date or time."
        day, at = None, None
    if at is not None and day is None:
        errors["due"] = "Pick a date for the due time."
    elif day is not None:
        due = Due(date=day, time=at, tz=assignor_tz or "UTC")
    condition_value = (_element(values, ids.BLOCK_CONDITION).get("selected_option") or {}).get(
        "value", CompletionCondition.ANY_ONE.value
    )
    try:
        condition = CompletionCondition(condition_value)
    except ValueError:
        errors["condition"] = "Pick who has to finish the task."
        condition = CompletionCondition.ANY_ONE
    if errors:
        raise InvalidInput(errors)
    channel = _element(values, ids.BLOCK_CHANNEL)
    picked_channel = channel.get("selected_conversation") if channel else None
    assignees = _assignees(values) or (Assignee.user(assignor),)
    return TaskDraft(
        team_id=team_id,
        assignor=assignor,
        title=_text(values, ids.BLOCK_TITLE).strip(),
        description=_text(values, ids.BLOCK_DESCRIPTION).strip(),
        due=due,
        condition=condition,
        assignees=assignees,
        channel_id=picked_channel if ids.BLOCK_CHANNEL in values else default_channel,
        attachments=attachments,
        category=(_element(values, ids.BLOCK_CATEGORY).get("selected_option") or {}).get("value"),
    )


def parse_comment_form(values: Values) -> str:
    text = _text(values, ids.BLOCK_COMMENT).strip()
    if not text:
        raise InvalidInput({"comment": "Write something to comment."})
    return text


def parse_note(values: Values) -> str | None:
    return _text(values, ids.BLOCK_NOTE).strip() or None


def parse_reassign_form(values: Values, *, one: str | None = None) -> list[Assignee]:
    """``one``: the task system's one-assignee rule, where it has one; then one pick replaces
    the assignee, none unassigns, and two are refused beside the field."""
    assignees = list(_assignees(values))
    if one and len(assignees) > 1:
        raise InvalidInput({"assignees": f"{one}: pick one person or one group."})
    if not assignees and not one:
        raise InvalidInput({"assignees": "Pick at least one person or group."})
    return assignees


def _time(values: Values, block_id: str) -> time | None:
    text = _element(values, block_id).get("selected_time")
    return time.fromisoformat(text) if text else None


def parse_settings_form(values: Values) -> ReminderSettings:
    start, end = _time(values, ids.BLOCK_WORK_START), _time(values, ids.BLOCK_WORK_END)
    picked = _element(values, ids.BLOCK_WORK_DAYS).get("selected_options") or []
    days = frozenset(int(o["value"]) for o in picked)
    on = (_element(values, ids.BLOCK_REMINDERS_ON).get("selected_option") or {}).get("value")
    errors: dict[str, str] = {}
    if start is None:
        errors["start"] = "Pick the time your working day starts."
    if end is None:
        errors["end"] = "Pick the time your working day ends."
    elif start is not None and end <= start:
        errors["end"] = "The working day must end after it starts."
    if not days:
        errors["days"] = "Pick at least one working day."
    if errors:
        raise InvalidInput(errors)
    assert start is not None and end is not None
    return ReminderSettings(
        hours=WorkingHours(start=start, end=end, days=days),
        reminders_on=on != "off",
        digest_at=_time(values, ids.BLOCK_DIGEST_AT),
    )
