"""Words shared by every surface that shows a task: status, due, parts, progress."""

from __future__ import annotations

from datetime import datetime

from bot.domain.models import (
    CommentEvent,
    CompletionCondition,
    PartState,
    Status,
    Task,
)
from bot.slack.markup import escape, render_assignee, render_date, render_user, task_name


def status_words(task: Task) -> str:
    """The status in words (never only a colour or an emoji)."""
    if task.deleted:
        return "Deleted"
    if task.status is Status.COMPLETED:
        made_in = _completed_in(task)
        if made_in is not None:
            return made_in
        finisher = _finisher(task)
        return f"Completed by {render_user(finisher)}" if finisher else "Completed"
    if task.status is Status.REOPENED:
        return "Reopened"
    if task.status is Status.AWAITING_FEEDBACK:
        return "Awaiting feedback"
    if task.status is Status.IN_PROGRESS:
        return "In progress"
    return "Open"


def _completed_in(task: Task) -> str | None:
    """ "Completed in Struct PIM" (by its linked author, when it said) for a task completed in
    its task system; None when its completion was made in Slack."""
    done = [c for c in task.comments if c.event is CommentEvent.COMPLETED]
    last = done[-1] if done else None
    if last is None or last.origin is None:
        return None
    by = f" by {render_user(last.author)}" if last.author else ""
    return f"Completed{by} in {escape(last.origin)}"


def _finisher(task: Task) -> str | None:
    done = [p for p in task.parts if p.state is PartState.DONE and p.done_at is not None]
    if not done:
        return None
    if task.condition is CompletionCondition.ANY_ONE:
        return min(done, key=lambda p: p.done_at or task.updated_at).done_by
    return max(done, key=lambda p: p.done_at or task.updated_at).done_by


def due_text(task: Task, now: datetime) -> str | None:
    """With a time: Slack's date token, shown in each reader's zone. A date alone: the date."""
    if task.due is None:
        return None
    if task.due.time is not None:
        instant = task.due.instant()
        text = render_date(instant, instant.strftime("%Y-%m-%d %H:%M UTC"))
    else:
        text = task.due.date.strftime("%a %d %b %Y")
    if task.is_overdue(now):
        text += " — *overdue*"
    return text


def progress_text(task: Task) -> str:
    if not task.parts:
        return "No assignees"
    if task.condition is CompletionCondition.MUST_ALL:
        return f"{task.done_count} of {len(task.parts)} done (everyone must finish)"
    return f"{task.done_count} of {len(task.parts)} done (any one of them completes it)"


def part_lines(task: Task, limit: int) -> list[str]:
    lines = [
        f"{render_assignee(p.assignee)} — {'done' if p.state is PartState.DONE else 'pending'}"
        for p in task.parts[:limit]
    ]
    if len(task.parts) > limit:
        lines.append(f"and {len(task.parts) - limit} more")
    return lines


def one_line(task: Task, now: datetime) -> str:
    """A compact line for lists and App Home."""
    bits = [task_name(task), status_words(task)]
    due = due_text(task, now)
    if due:
        bits.append(f"due {due}")
    if len(task.parts) > 1:
        bits.append(f"{task.done_count} of {len(task.parts)} done")
    return " · ".join(bits)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
