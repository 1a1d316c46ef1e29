"""App Home: my open tasks, tasks I assigned, overdue — each task with the reader's buttons."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.models import BackendCapabilities, CardKind, Task, list_total
from bot.slack import ids
from bot.slack.blocks.buttons import card_buttons
from bot.slack.blocks.text import one_line, truncate

MAX_BLOCKS = 100
PER_SECTION = 10  # each task takes two blocks; three sections stay inside 100 blocks


def home_view(
    *,
    mine: list[Task],
    assigned: list[Task],
    overdue: list[Task],
    viewer: str,
    capabilities: BackendCapabilities,
    now: datetime,
) -> View:
    blocks: list[Block] = []
    if capabilities.create:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="New task", action_id=ids.ACTION_OPEN_CREATE, style="primary"
                    )
                ]
            )
        )
    sections = (
        ("My open tasks", mine, "Nothing assigned to you. :tada:"),
        ("Tasks I assigned", assigned, "You haven't assigned any open task."),
        ("Overdue", overdue, "Nothing overdue."),
    )
    for title, tasks, empty in sections:
        total = list_total(tasks)
        blocks.append(HeaderBlock(text=f"{title} ({total})"))
        if not tasks:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=empty)]))
        for task in tasks[:PER_SECTION]:
            kind = CardKind.ASSIGNOR_DM if task.assignor == viewer else CardKind.ASSIGNEE_DM
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text=truncate(one_line(task, now), 3000)))
            )
            buttons = card_buttons(task, viewer=viewer, kind=kind, capabilities=capabilities)
            if buttons:
                blocks.append(ActionsBlock(elements=buttons))
        if total > min(len(tasks), PER_SECTION):
            more = f"and {total - min(len(tasks), PER_SECTION)} more — use `/task list`"
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
        blocks.append(DividerBlock())
    return View(type="home", blocks=blocks[:MAX_BLOCKS])
