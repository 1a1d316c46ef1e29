"""The ephemeral list answered to ``/task list``, ``mine``, ``assigned`` and ``overdue``."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.models import PageKey, Task, TaskPage, list_total
from bot.slack import ids
from bot.slack.blocks.card import CardMessage
from bot.slack.blocks.text import one_line, truncate

MAX_ROWS = 45  # a message holds 50 blocks


def task_list(
    tasks: list[Task], *, heading: str, viewer: str, now: datetime, command: str | None = None
) -> CardMessage:
    """With ``command`` (the list's ``/task`` word) a page of it, with Previous / Next buttons;
    without, the first rows and how many more."""
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
    if command is not None and isinstance(tasks, TaskPage) and tasks:
        turns = page_buttons(tasks, command)
        if turns:
            blocks.append(ActionsBlock(elements=turns))
    elif total > shown:
        more = f"and {total - shown} more — use `/task show T-n` for one task"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    text = f"{heading}: " + (", ".join(t.handle for t in tasks[:20]) or "none")
    return CardMessage(text=text, blocks=blocks)


def page_buttons(page: TaskPage, command: str) -> list[ButtonElement]:
    buttons = []
    if page.more_before:
        value = ids.encode_page(command, PageKey.of(page[0]))
        buttons.append(
            ButtonElement(text="Previous", action_id=ids.ACTION_LIST_PREVIOUS, value=value)
        )
    if page.more_after:
        value = ids.encode_page(command, PageKey.of(page[-1]))
        buttons.append(ButtonElement(text="Next", action_id=ids.ACTION_LIST_NEXT, value=value))
    return buttons
