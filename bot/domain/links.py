"""Links between Slack people and a task system's own assignee ids (the user map).

Every task system names people its own way (a UUID, ``userf7da-…``, an integer); a link says
which of its ids a Slack user or user group is, per workspace and backend. Pure data.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain.errors import InvalidInput
from bot.domain.models import AssigneeKind, BackendCapabilities


class LinkHow(StrEnum):
    EMAIL = "email"  # found by the person's Slack email in the backend's directory
    NAME = "name"  # a user group found by its Slack handle among the backend's groups
    SELF = "self"  # the person linked themselves (confirmed by email where the backend can)
    ADMIN = "admin"  # set by a workspace admin or a TASKBOT_ADMINS user
    IMPORT = "import"  # from ``taskbot users import``


class UserLink(BaseModel):
    model_config = ConfigDict(frozen=True)

    team_id: str
    backend: str
    slack_id: str
    kind: AssigneeKind
    assignee_id: str
    how: LinkHow
    set_by: str | None = None
    set_at: datetime


def same_email(a: str | None, b: str | None) -> bool:
    """Both emails given and equal but for case and outer spaces (no email is nobody's)."""
    return bool(a and b and a.strip().casefold() == b.strip().casefold())


def check_assignee_id(capabilities: BackendCapabilities, assignee_id: str) -> str:
    """The id, trimmed, if it has the backend's shape; else InvalidInput naming the shape."""
    value = assignee_id.strip()
    pattern = capabilities.assignee_id_pattern
    if not value or (pattern and not re.fullmatch(pattern, value)):
        example = capabilities.assignee_id_example or "an id from the task system"
        raise InvalidInput(
            {
                "assignee": f"`{value or '(empty)'}` is not an id this task system uses; "
                f"it looks like {example}."
            }
        )
    return value
