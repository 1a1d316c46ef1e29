"""The one rendering edge: every piece of user or task-system text is escaped here, and the only
live markup the bot sends is rendered here from ids and timestamps.

Slack reads ``&``, ``<`` and ``>`` as control characters in mrkdwn and message text; escaped, a
typed ``<!channel>`` or ``<http://evil|Verify>`` shows as the characters typed. Slash-command
text arrives in Slack's own format (mentions, links and ``&lt;``); ``from_slack`` turns it into
the plain text the domain keeps, special mentions and links shown inert. Plain-text fields
(headers, inputs, option labels) need no escaping. May import ``bot.domain``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from bot.domain.events import TaskEvent
from bot.domain.models import Assignee, AssigneeKind, Task
from bot.domain.naming import fill

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_TOKEN_RE = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def escape(text: str) -> str:
    """User or task-system text made safe for mrkdwn and message text."""
    return text.translate(_ESCAPES)


def render_user(user_id: str) -> str:
    return f"<@{user_id}>"


def render_author(event: TaskEvent) -> str:
    """Who made a change, as people read it: the Slack user who made it, or the task system it
    was made in (with its linked author when the system says who that was)."""
    origin = event.origin
    if origin is None:
        return render_user(event.actor.user_id)
    if origin.user_id:
        return f"{render_user(origin.user_id)} in {escape(origin.system)}"
    return f"someone in {escape(origin.system)}"


def render_change(event: TaskEvent, did: str, done: str) -> str:
    """A change in words. Made in Slack: "<@U> {did}". Made in a task system: "<@U> {did} in
    Struct PIM" when the system names its linked author, else "{done} in Struct PIM" (never
    the assignor's name for what the system did). ``did``/``done``: mrkdwn, already escaped."""
    origin = event.origin
    if origin is None:
        return f"{render_user(event.actor.user_id)} {did}"
    where = f" in {escape(origin.system)}"
    if origin.user_id:
        return f"{render_user(origin.user_id)} {did}{where}"
    return f"{done}{where}"


def render_assignee(assignee: Assignee) -> str:
    if assignee.kind is AssigneeKind.GROUP:
        return f"<!subteam^{assignee.id}>"
    return render_user(assignee.id)


def render_channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def render_date(instant: datetime, fallback: str) -> str:
    """Slack's date token: the reader sees the instant in their own zone."""
    stamp = int(instant.timestamp())
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{escape(fallback)}>"


def render_link(url: str, label: str) -> str:
    return f"<{escape(url).replace('|', '%7C')}|{escape(label)}>"


def task_name(task: Task) -> str:
    """``*T-4* Title`` as every message names a task."""
    return f"*{task.handle}* {escape(task.title)}"


def render_text(template: str, refs: Sequence[Assignee] = ()) -> str:
    """A domain message (see ``bot.domain.naming``): escaped, then its references rendered."""
    return fill(escape(template), refs, render_assignee)


def _plain_token(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith(("@", "#")):
        return target[0] + (label or target[1:]).lstrip("@#")
    if target.startswith("!subteam^"):
        return "@" + (label or target.removeprefix("!subteam^")).lstrip("@")
    if target.startswith("!"):
        return label or "@" + target[1:].split("^", 1)[0]
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    return f"{label} ({target})" if label and label != target else target


def from_slack(text: str) -> str:
    """Slack-formatted input (slash commands, messages) → the plain text a person typed.

    ``<@U1|ana>`` → ``@ana``, ``<!channel>`` → ``@channel``, ``<url|label>`` → ``label (url)``,
    ``&lt;`` → ``<``: nothing of it is live once it is escaped on the way out again.
    """
    plain = _TOKEN_RE.sub(_plain_token, text)
    for entity, char in _ENTITIES:
        plain = plain.replace(entity, char)
    return plain
