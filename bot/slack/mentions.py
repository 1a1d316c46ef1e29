"""Slack mention syntax: rendering assignees, and reading mentions as Slack escapes them.

With ``should_escape: true`` Slack sends ``<@U123|ana>`` and ``<!subteam^S123|@team>``.
"""

from __future__ import annotations

import re

from bot.domain.models import Assignee, AssigneeKind

MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>")


def render_user(user_id: str) -> str:
    return f"<@{user_id}>"


def render_assignee(assignee: Assignee) -> str:
    if assignee.kind is AssigneeKind.GROUP:
        return f"<!subteam^{assignee.id}>"
    return render_user(assignee.id)


def parse_mentions(text: str) -> tuple[Assignee, ...]:
    """Every user and group mentioned, in order, without repeats."""
    found: list[Assignee] = []
    for match in MENTION_RE.finditer(text):
        user, group = match.groups()
        assignee = Assignee.user(user) if user else Assignee.group(group)
        if assignee not in found:
            found.append(assignee)
    return tuple(found)
