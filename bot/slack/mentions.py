"""Reading mentions as Slack escapes them; rendering is ``bot.slack.markup``'s.

With ``should_escape: true`` Slack sends ``<@U123|ana>`` and ``<!subteam^S123|@team>``.
"""

from __future__ import annotations

import re

from bot.domain.models import Assignee

MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>")


def parse_mentions(text: str) -> tuple[Assignee, ...]:
    """Every user and group mentioned, in order, without repeats."""
    found: list[Assignee] = []
    for match in MENTION_RE.finditer(text):
        user, group = match.groups()
        assignee = Assignee.user(user) if user else Assignee.group(group)
        if assignee not in found:
            found.append(assignee)
    return tuple(found)
