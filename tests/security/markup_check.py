"""What counts as live Slack markup in what the bot sends (shared by the rendering-edge tests).

Imports nothing of taskbot, so the tests that use it also run against code without the edge.
"""

from __future__ import annotations

import re
from typing import Any

PERMALINK = "https://team.slack.com/archives/C0PROJECT/p1?thread_ts=1&cid=C0PROJECT"
# The only markup the code may render: mentions of the task's people, its channel, date tokens
# and the permalink it was given.
RENDERED = re.compile(
    r"<@(UBOSS|UANA|UBEN)>|<!subteam\^SOPS>|<#C0PROJECT>"
    r"|<!date\^\d+\^\{date_short_pretty\} at \{time\}\|[^<>]*>"
    r"|<https://team\.slack\.com/archives/C0PROJECT/p1\?thread_ts=1&amp;cid=C0PROJECT\|[^<>]*>"
)


def leaks(text: str) -> list[str]:
    """What in ``text`` could be live markup besides what the code rendered."""
    rest = RENDERED.sub("", text)
    return [rest[i : i + 30] for i, c in enumerate(rest) if c == "<"]


def mrkdwn(value: Any) -> list[str]:
    """Every mrkdwn text (and message ``text``) in a payload; plain_text shows as typed."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn(v)]
    if not isinstance(value, dict):
        return []
    if value.get("type") == "plain_text":
        return []
    found = [value["text"]] if isinstance(value.get("text"), str) else []
    return found + [
        t for k, v in value.items() if k != "text" or not isinstance(v, str) for t in mrkdwn(v)
    ]
