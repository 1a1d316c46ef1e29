"""Every Slack id taskbot registers or renders: command, action_id, callback_id, block_id.

One module so listeners, Block Kit builders and ``manifest.yml`` cannot drift apart
(tests/test_manifest.py checks the manifest against what the app registers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from bot.domain.models import PageKey

COMMAND: Final = "/task"

# Buttons on task cards (value: ``encode_ref(handle, version)``).
ACTION_DONE: Final = "task_done"
ACTION_UNDO: Final = "task_undo"
ACTION_REOPEN: Final = "task_reopen"
ACTION_COMPLETE: Final = "task_complete"  # the assignor completes the whole task
ACTION_COMMENT: Final = "task_comment"  # opens the comment modal
ACTION_REASSIGN: Final = "task_reassign"  # opens the reassign modal
ACTION_CLAIM: Final = "task_claim"  # "I'm on it" (ANY_ONE)
ACTION_OPEN_CREATE: Final = "task_open_create"  # App Home "New task" button
# Previous / Next under a list (value: ``encode_page(command, edge)``).
ACTION_LIST_PREVIOUS: Final = "task_list_previous"
ACTION_LIST_NEXT: Final = "task_list_next"
# Previous / Next under an App Home section (value: ``HomePlace.encode()``, the whole Home's place).
ACTION_HOME_PREVIOUS: Final = "home_page_previous"
ACTION_HOME_NEXT: Final = "home_page_next"
ACTION_SNOOZE_HOUR: Final = "reminder_snooze_hour"
ACTION_SNOOZE_TOMORROW: Final = "reminder_snooze_tomorrow"

CARD_ACTIONS: Final = (
    ACTION_DONE,
    ACTION_UNDO,
    ACTION_REOPEN,
    ACTION_COMPLETE,
    ACTION_COMMENT,
    ACTION_REASSIGN,
    ACTION_CLAIM,
)

# Modals (view callback_id).
VIEW_CREATE: Final = "task_create"
VIEW_COMMENT: Final = "task_comment_submit"
VIEW_REASSIGN: Final = "task_reassign_submit"
VIEW_SETTINGS: Final = "task_settings_submit"

# Shortcuts (callback_id).
SHORTCUT_FROM_MESSAGE: Final = "task_from_message"

# Events.
EVENT_APP_HOME_OPENED: Final = "app_home_opened"

# Input blocks of the create modal: block_id == the domain field name, so InvalidInput.errors
# keys map straight onto modal field errors. The element inside each has action_id "value".
BLOCK_TITLE: Final = "title"
BLOCK_DESCRIPTION: Final = "description"
BLOCK_ASSIGNEES: Final = "assignees"
BLOCK_GROUPS: Final = "groups"
BLOCK_DUE_DATE: Final = "due"
BLOCK_DUE_TIME: Final = "due_time"
BLOCK_CONDITION: Final = "condition"
BLOCK_CHANNEL: Final = "channel"
BLOCK_CATEGORY: Final = "category"
BLOCK_COMMENT: Final = "comment"
BLOCK_NOTE: Final = "note"  # a note that goes with a reassignment
# Inputs of the settings modal, named after the fields they set.
BLOCK_WORK_START: Final = "start"
BLOCK_WORK_END: Final = "end"
BLOCK_WORK_DAYS: Final = "days"
BLOCK_REMINDERS_ON: Final = "reminders"
BLOCK_DIGEST_AT: Final = "digest"
ELEMENT: Final = "value"

# Blocks of a task card that tests and updates look for.
BLOCK_CARD_ACTIONS: Final = "card_actions"
BLOCK_SNOOZE: Final = "snooze"


def encode_ref(handle: str, version: int) -> str:
    """Button value: which task, and the version the reader saw."""
    return f"{handle}:{version}"


def decode_ref(value: str) -> tuple[str, int | None]:
    """``"T-4:3"`` → ``("T-4", 3)``; a value without a version → ``(value, None)``."""
    handle, _, version = value.partition(":")
    return handle, int(version) if version.isdigit() else None


def encode_page(command: str, edge: PageKey) -> str:
    """Button value: which list, and the task the page turns from (a keyset, not a page
    number, so a turn never skips or repeats a task when others change)."""
    due = edge.due_at.isoformat() if edge.due_at else ""
    return f"{command}|{due}|{edge.number}"


def decode_page(value: str) -> tuple[str, PageKey]:
    command, due, number = value.split("|")
    return command, PageKey(due_at=datetime.fromisoformat(due) if due else None, number=int(number))
