"""App Home: my open tasks, tasks I assigned, overdue — each task with the reader's buttons, and
each section paged on its own with Previous / Next (its place in ``bot.slack.home_place``)."""

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

from bot.domain.models import BackendCapabilities, CardKind, PageKey, Task, TaskPage, list_total
from bot.slack import ids
from bot.slack.blocks.buttons import card_buttons
from bot.slack.blocks.text import one_line, truncate
from bot.slack.home_place import FIRST, START, HomePlace, Section, SectionPlace

MAX_BLOCKS = 100
# Each task takes two blocks, a section four more (header, empty note, turns, divider):
# 1 + 3 × (10 × 2 + 4) = 73, inside Slack's 100.
PER_SECTION = 10

SECTION_TEXTS: dict[Section, tuple[str, str]] = {
    "mine": ("My open tasks", "Nothing assigned to you. :tada:"),
    "assigned": ("Tasks I assigned", "You haven't assigned any open task."),
    "overdue": ("Overdue", "Nothing overdue."),
}
PAST_THE_END = "No more tasks here: they changed since the last page."


def home_view(
    *,
    mine: list[Task],
    assigned: list[Task],
    overdue: list[Task],
    viewer: str,
    capabilities: BackendCapabilities,
    now: datetime,
    place: HomePlace = START,
) -> View:
    """``place``: where each section is paged to, which its Previous / Next buttons move."""
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
    lists: dict[Section, list[Task]] = {"mine": mine, "assigned": assigned, "overdue": overdue}
    for section, tasks in lists.items():
        title, empty = SECTION_TEXTS[section]
        total = list_total(tasks)
        blocks.append(HeaderBlock(text=f"{title} ({total})"))
        if not tasks:
            paged = place.of(section) != FIRST and total > 0
            note = PAST_THE_END if paged else empty
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]))
        for task in tasks[:PER_SECTION]:
            kind = CardKind.ASSIGNOR_DM if task.assignor == viewer else CardKind.ASSIGNEE_DM
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text=truncate(one_line(task, now), 3000)))
            )
            buttons = card_buttons(task, viewer=viewer, kind=kind, capabilities=capabilities)
            if buttons:
                blocks.append(ActionsBlock(elements=buttons))
        if isinstance(tasks, TaskPage):
            turns = home_page_buttons(tasks, section, place)
            if turns:
                blocks.append(ActionsBlock(elements=turns))
        elif total > min(len(tasks), PER_SECTION):
            more = f"and {total - min(len(tasks), PER_SECTION)} more — use `/task list`"
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
        blocks.append(DividerBlock())
    return View(type="home", blocks=blocks[:MAX_BLOCKS])


def home_page_buttons(page: TaskPage, section: Section, place: HomePlace) -> list[ButtonElement]:
    """Previous / Next for one section; each value is the whole Home's place with this section
    moved by a page. A page that came back empty while the list is not (its tasks changed as it
    was read) turns back from the place it was asked for."""
    shown = place.of(section)
    if not page and page.total == 0:
        return []
    if page:
        previous = SectionPlace(before=PageKey.of(page[0])) if page.more_before else None
        following = SectionPlace(after=PageKey.of(page[-1])) if page.more_after else None
    elif shown.after is not None:  # past the end: the page before that place is the last one
        previous, following = SectionPlace(before=shown.after), None
    elif shown.before is not None:  # before the start: the first page follows
        previous, following = None, FIRST
    else:
        return []
    buttons = []
    if previous is not None:
        value = place.moved(section, previous).encode()
        buttons.append(
            ButtonElement(text="Previous", action_id=ids.ACTION_HOME_PREVIOUS, value=value)
        )
    if following is not None:
        value = place.moved(section, following).encode()
        buttons.append(ButtonElement(text="Next", action_id=ids.ACTION_HOME_NEXT, value=value))
    return buttons
