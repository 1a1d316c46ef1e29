"""Parse the text of ``/task`` into a subcommand and its arguments.

Pure: no Bolt, no Web API. Mentions arrive escaped (the manifest sets ``should_escape: true``):
``<@U123|ana>`` and ``<!subteam^S123|@team>``. Quick add reads
``add <title> @user @group due:<when> [HH:MM] any|all``: the title is the text before the first
mention or ``due:``; after it come options, so a title may contain the words "any" or "all".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from bot.domain.models import Assignee, BackendCapabilities, CompletionCondition, Due, zone
from bot.domain.rules import assignment_rule
from bot.slack.markup import from_slack
from bot.slack.mentions import MENTION_RE, parse_mentions

_TIME_RE = re.compile(r"^([01]?\d|2[0-3])[:.h]([0-5]\d)$")
# ``<day>@HH:MM`` or ISO ``YYYY-MM-DDTHH:MM``.
_DATE_TIME_RE = re.compile(r"(.+?)(?:@|(?<=\d)t)(\d{1,2}[:.h]\d{2})")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

SUBCOMMANDS: dict[str, str] = {
    "help": "`/task help` — this list",
    "new": "`/task new [title]` — open the form to create a task",
    "add": "`/task add <title> @user @group due:<date> [HH:MM] any|all` — create quickly",
    "list": "`/task list` — open tasks you assigned or are assigned to",
    "mine": "`/task mine` — open tasks assigned to you",
    "assigned": "`/task assigned` — open tasks you assigned",
    "overdue": "`/task overdue` — overdue tasks you are part of",
    "show": "`/task show T-n` — one task",
    "done": "`/task done T-n` — mark your part done",
    "undo": "`/task undo T-n` — mark your part not done",
    "reopen": "`/task reopen T-n` — reopen a completed task (assignor)",
    "assign": "`/task assign T-n @user @group` — add assignees (assignor)",
    "unassign": "`/task unassign T-n @user` — remove assignees (assignor)",
    "comment": "`/task comment T-n <text>` — comment on a task",
    "delete": "`/task delete T-n` — delete a task (assignor)",
    "link": "`/task link <your-id>` or `/task link @user|@group <id> [--force]` — link to the "
    "task system's id (others and groups: admins)",
    "unlink": "`/task unlink @user|@group` — remove a link (admins)",
    "whoami": "`/task whoami` — how the task system knows you",
    "settings": "`/task settings` — your working hours, reminders and daily digest",
}
ALIASES = {"create": "new", "ls": "list", "complete": "done", "rm": "delete", "?": "help"}


@dataclass(frozen=True)
class Command:
    name: str
    rest: str = ""
    handle: str | None = None
    mentions: tuple[Assignee, ...] = ()


@dataclass(frozen=True)
class QuickAdd:
    title: str
    assignees: tuple[Assignee, ...] = ()
    due: Due | None = None
    condition: CompletionCondition = CompletionCondition.ANY_ONE
    problems: dict[str, str] = field(default_factory=dict)


class UsageError(ValueError):
    """The text is not a command we know, or lacks what the command needs."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


def mentions(text: str) -> tuple[Assignee, ...]:
    return parse_mentions(text)


def parse(text: str) -> Command:
    """``/task`` text → Command. Empty text is ``help``; unknown words raise UsageError."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return Command("help")
    name = words[0].lower()
    name = ALIASES.get(name, name)
    rest = words[1].strip() if len(words) > 1 else ""
    if name not in SUBCOMMANDS:
        raise UsageError(f"I don't know `/task {from_slack(words[0])}`.")
    if name in ("show", "done", "undo", "reopen", "assign", "unassign", "comment", "delete"):
        handle, _, rest = rest.partition(" ")
        if not handle:
            raise UsageError(f"`/task {name}` needs a task handle such as T-12.", SUBCOMMANDS[name])
        rest = rest.strip()
        found = mentions(rest)
        if name == "assign" and not found:  # `unassign T-n` clears a one-assignee task
            raise UsageError(
                f"`/task {name}` needs at least one @person or @group.", SUBCOMMANDS[name]
            )
        if name == "comment" and not rest:
            raise UsageError("`/task comment` needs some text after the handle.", SUBCOMMANDS[name])
        return Command(name, rest=rest, handle=handle, mentions=found)
    return Command(name, rest=rest, mentions=mentions(rest))


def parse_when(value: str, now: datetime, tz: str | None) -> tuple[date, time | None]:
    """``2026-11-30``, ``today``, ``tomorrow``, ``fri``, ``15:00``, ``…T15:00``, ``fri@9:00``."""
    local_today = now.astimezone(zone(tz)).date()
    word = value.strip().lower()
    day_part, when_time = word, None
    if split := _DATE_TIME_RE.fullmatch(word):
        day_part, when_time = split.group(1), _parse_time(split.group(2))
    if _TIME_RE.match(day_part):
        return local_today, _parse_time(day_part)
    if day_part == "today":
        return local_today, when_time
    if day_part == "tomorrow":
        return local_today + timedelta(days=1), when_time
    for index, name in enumerate(_WEEKDAYS):
        if len(day_part) >= 3 and name.startswith(day_part):
            ahead = (index - local_today.weekday()) % 7 or 7
            return local_today + timedelta(days=ahead), when_time
    try:
        return date.fromisoformat(day_part), when_time
    except ValueError:
        raise ValueError(
            f"I can't read the date `{value}`; use YYYY-MM-DD, today, tomorrow or a weekday"
        ) from None


def _parse_time(text: str) -> time | None:
    match = _TIME_RE.match(text.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_quick_add(text: str, now: datetime, tz: str | None) -> QuickAdd:
    """Parse ``add`` arguments; unreadable parts are reported per field in ``problems``."""
    tokens = text.split()
    title_words: list[str] = []
    options_started = False
    due_date: date | None = None
    due_time: time | None = None
    condition = CompletionCondition.ANY_ONE
    problems: dict[str, str] = {}
    for token in tokens:
        lower = token.lower()
        is_option = bool(MENTION_RE.fullmatch(token)) or lower.startswith("due:")
        if not options_started and not is_option:
            title_words.append(token)
            continue
        options_started = True
        if MENTION_RE.fullmatch(token):
            continue
        if lower.startswith("due:"):
            try:
                due_date, due_time = parse_when(token[4:], now, tz)
            except ValueError as exc:
                problems["due"] = from_slack(str(exc)) + "."
        elif _parse_time(lower) is not None and due_date is not None and due_time is None:
            due_time = _parse_time(lower)
        elif lower in ("any", "anyone", "any_one"):
            condition = CompletionCondition.ANY_ONE
        elif lower in ("all", "must_all", "everyone"):
            condition = CompletionCondition.MUST_ALL
        else:
            problems.setdefault(
                "title",
                f"I didn't understand `{from_slack(token)}` after the assignees; "
                "put the whole title first.",
            )
    due = Due(date=due_date, time=due_time, tz=tz or "UTC") if due_date else None
    return QuickAdd(
        title=from_slack(" ".join(title_words)),
        assignees=mentions(text),
        due=due,
        condition=condition,
        problems=problems,
    )


def help_text(capabilities: BackendCapabilities | None = None) -> str:
    """The subcommands; with the task system's ``capabilities``, how assigning works there."""
    usages = dict(SUBCOMMANDS)
    rule = assignment_rule(capabilities) if capabilities is not None else None
    if rule:
        usages["assign"] = "`/task assign T-n @user|@group` — give it to them (assignor)"
        usages["unassign"] = "`/task unassign T-n` — leave it with nobody (assignor)"
    lines = "\n".join(f"• {u}" for u in usages.values())
    note = f"\n{rule}; `/task unassign T-n` clears it." if rule else ""
    return f"*taskbot* — what `/task` can do:\n{lines}{note}"
