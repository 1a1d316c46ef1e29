"""The task card: the one message that shows a task, in a channel or a DM, with its buttons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.models import (
    Assignee,
    AttachmentKind,
    BackendCapabilities,
    CardKind,
    CommentEvent,
    Task,
)
from bot.domain.rules import assignment_rule
from bot.slack import ids
from bot.slack.blocks.buttons import card_buttons
from bot.slack.blocks.text import (
    due_text,
    part_lines,
    progress_text,
    status_words,
    truncate,
)
from bot.slack.markup import escape, render_assignee, render_date, render_link, render_user

MAX_PART_LINES = 30  # keeps a card well inside Slack's 50 blocks and 3000 chars a section


@dataclass(frozen=True)
class CardMessage:
    text: str  # notification and screen-reader fallback
    blocks: list[Block]


def task_card(
    task: Task,
    *,
    viewer: str | None,
    kind: CardKind,
    capabilities: BackendCapabilities,
    now: datetime,
    next_reminder: datetime | None = None,
) -> CardMessage:
    """``next_reminder``: the reader's own next reminder, given only on cards one person reads."""
    blocks: list[Block] = [HeaderBlock(text=truncate(f"{task.handle} · {task.title}", 150))]
    if task.description:
        description = truncate(escape(task.description), 3000)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=description)))
    facts = [
        f"*Status:* {status_words(task)}",
        f"*Assigned by:* {render_user(task.assignor)}",
    ]
    due = due_text(task, now)
    if due:
        facts.append(f"*Due:* {due}")
    if next_reminder is not None and task.is_open:
        fallback = next_reminder.strftime("%Y-%m-%d %H:%M UTC")
        facts.append(f"*Next reminder:* {render_date(next_reminder, fallback)}")
    if task.claimed_by and task.is_open:
        facts.append(f"*On it:* {render_user(task.claimed_by)}")
    blocks.append(SectionBlock(fields=[MarkdownTextObject(text=f) for f in facts]))
    parts = "\n".join(part_lines(task, MAX_PART_LINES))
    blocks.append(
        SectionBlock(
            text=MarkdownTextObject(text=truncate(f"*{progress_text(task)}*\n{parts}", 3000))
        )
    )
    context = _context_line(task, capabilities)
    if context:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    buttons = card_buttons(task, viewer=viewer, kind=kind, capabilities=capabilities)
    if buttons:
        blocks.append(ActionsBlock(block_id=ids.BLOCK_CARD_ACTIONS, elements=buttons))
    text = f"{task.handle} {escape(task.title)} — {status_words(task)}"
    return CardMessage(text=text, blocks=blocks)


def _context_line(task: Task, capabilities: BackendCapabilities) -> str:
    bits: list[str] = []
    rule = assignment_rule(capabilities)
    if rule and not task.deleted:
        bits.append(escape(rule))
    comments = sum(1 for c in task.comments if not c.system)
    if comments:
        bits.append(f"{comments} comment{'s' if comments != 1 else ''}")
    if any(c.event is CommentEvent.OPERATOR for c in task.comments):
        bits.append("made with the operator account (`/task link lineworks` to use yours)")
    expanded = [
        render_assignee(Assignee.group(_group_id(s)))
        for c in task.comments
        if c.event is CommentEvent.EXPANDED
        for s in c.subjects
    ]
    if expanded:
        bits.append(f"assigned as members of {', '.join(dict.fromkeys(expanded))}")
    for attachment in task.attachments[:5]:
        if attachment.kind is AttachmentKind.SLACK_MESSAGE and attachment.url:
            bits.append(render_link(attachment.url, attachment.title or "Slack message"))
        elif attachment.entity_type:
            entity = f"{attachment.entity_type} {attachment.entity_id or ''}".strip()
            bits.append(escape(entity))
    return " · ".join(bits)


def _group_id(subject: str) -> str:
    """A group id; comments stored before the rendering edge hold ``<!subteam^S…>``."""
    return subject.removeprefix("<!subteam^").split("|", 1)[0].removesuffix(">")
