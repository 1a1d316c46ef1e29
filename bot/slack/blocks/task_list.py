"""The ephemeral list answered to ``/task list``, ``mine``, ``assigned`` and ``overdue``."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.models import Task, list_total
from bot.slack.blocks.card import CardMessage
from bot.slack.blocks.text import one_line, truncate

MAX_ROWS = 45  # a message holds 50 blocks


def task_list(tasks: list[Task], *, heading: str, viewer: str, now: datetime) -> CardMessage:
    del viewer  # every row reads the same for everyone; kept for symmetry with the cards
    total = list_total(tasks)
    shown = min(len(tasks), MAX_ROWS)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{heading}* ({total})"))]
    if not tasks:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing here. :tada:")]))
    for task in tasks[:MAX_ROWS]:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=truncate(one_line(task, now), 3000)))
        )
    if total > shown:
        more = f"and {total - shown} more — use `/task show T-n` for one task"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    text = f"{heading}: " + (", ".join(t.handle for t in tasks[:20]) or "none")
    return CardMessage(text=text, blocks=blocks)
