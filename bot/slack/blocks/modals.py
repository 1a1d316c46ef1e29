"""Modals: create a task, comment, reassign, and a plain message view for outcomes."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    TimePickerElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.models import (
    TITLE_MAX,
    Assignee,
    AssigneeKind,
    Attachment,
    AttachmentKind,
    BackendCapabilities,
    CompletionCondition,
    Task,
    TaskDraft,
)
from bot.domain.reminders import EARLY_MARGIN, ReminderSettings, WorkingHours, early_example
from bot.slack import ids
from bot.slack.blocks.text import truncate
from bot.slack.markup import render_link, task_name
from bot.slack.metadata import TaskRefContext

_CONDITIONS = {
    CompletionCondition.ANY_ONE: Option(value="ANY_ONE", label="Any one of them"),
    CompletionCondition.MUST_ALL: Option(value="MUST_ALL", label="Everyone"),
}
MAX_GROUP_OPTIONS = 100  # Slack's limit for a static select


def _title(text: str) -> str:
    return truncate(text, 24)


def _group_options(groups: list[tuple[str, str]]) -> list[Option]:
    return [
        Option(value=gid, label=truncate(f"@{name}", 75))
        for gid, name in groups[:MAX_GROUP_OPTIONS]
    ]


def _groups_block(
    groups: list[tuple[str, str]], selected: tuple[Assignee, ...], label: str
) -> InputBlock | None:
    options = _group_options(groups)
    if not options:
        return None
    chosen = {a.id for a in selected if a.kind is AssigneeKind.GROUP}
    initial = [o for o in options if o.value in chosen] or None
    return InputBlock(
        block_id=ids.BLOCK_GROUPS,
        label=label,
        optional=True,
        element=StaticMultiSelectElement(
            action_id=ids.ELEMENT,
            placeholder="Pick user groups",
            options=options,
            initial_options=initial,
        ),
        hint="A group's part is done when any one of its members marks it done.",
    )


def create_task_modal(
    *,
    title: str = "",
    description: str = "",
    channel_id: str | None,
    attachments: tuple[Attachment, ...] = (),
    capabilities: BackendCapabilities,
    groups: list[tuple[str, str]],
    private_metadata: str,
    draft: TaskDraft | None = None,
    error: str | None = None,
    categories: list[tuple[str, str]] | None = None,
) -> View:
    """The create form; with ``draft`` it is shown again with everything the person typed."""
    if draft is not None:
        title, description, channel_id = draft.title, draft.description, draft.channel_id
    users = [a.id for a in draft.assignees if a.kind is AssigneeKind.USER] if draft else []
    blocks: list[Block] = []
    if error:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(error, 3000))))
    blocks.append(
        InputBlock(
            block_id=ids.BLOCK_TITLE,
            label="Title",
            element=PlainTextInputElement(
                action_id=ids.ELEMENT,
                initial_value=title[:TITLE_MAX] or None,
                max_length=TITLE_MAX,
                placeholder="What needs doing?",
            ),
        )
    )
    blocks.append(
        InputBlock(
            block_id=ids.BLOCK_DESCRIPTION,
            label="Description",
            optional=True,
            element=PlainTextInputElement(
                action_id=ids.ELEMENT,
                multiline=True,
                initial_value=description[:3000] or None,
                max_length=3000,
            ),
        )
    )
    assignee_label = "Assignees" if capabilities.multi_assignee else "Assignee"
    blocks.append(
        InputBlock(
            block_id=ids.BLOCK_ASSIGNEES,
            label=assignee_label,
            optional=True,
            element=UserMultiSelectElement(
                action_id=ids.ELEMENT,
                placeholder="Pick people (default: you)",
                initial_users=users or None,
                max_selected_items=None if capabilities.multi_assignee else 1,
            ),
        )
    )
    if capabilities.groups:
        group_block = _groups_block(groups, draft.assignees if draft else (), "Groups")
        if group_block is not None:
            blocks.append(group_block)
    due = draft.due if draft else None
    blocks.append(
        InputBlock(
            block_id=ids.BLOCK_DUE_DATE,
            label="Due date",
            optional=True,
            element=DatePickerElement(
                action_id=ids.ELEMENT, initial_date=due.date.isoformat() if due else None
            ),
        )
    )
    if capabilities.due_time:
        blocks.append(
            InputBlock(
                block_id=ids.BLOCK_DUE_TIME,
                label="Due time",
                optional=True,
                element=TimePickerElement(
                    action_id=ids.ELEMENT,
                    initial_time=due.time.strftime("%H:%M") if due and due.time else None,
                ),
                hint="In your time zone. Without a time, the task is due at the end of the day.",
            )
        )
    if capabilities.multi_assignee:
        condition = draft.condition if draft else CompletionCondition.ANY_ONE
        blocks.append(
            InputBlock(
                block_id=ids.BLOCK_CONDITION,
                label="Who has to finish it?",
                element=RadioButtonsElement(
                    action_id=ids.ELEMENT,
                    options=list(_CONDITIONS.values()),
                    initial_option=_CONDITIONS[condition],
                ),
                hint=(
                    "Any one of them: the first assignee who marks it done completes the task. "
                    "Everyone: it completes when every assignee has marked their part done."
                ),
            )
        )
    if categories:
        options = [Option(value=cid, label=truncate(name, 75)) for cid, name in categories[:100]]
        chosen = draft.category if draft else None
        blocks.append(
            InputBlock(
                block_id=ids.BLOCK_CATEGORY,
                label="Category",
                optional=True,
                element=StaticSelectElement(
                    action_id=ids.ELEMENT,
                    options=options,
                    initial_option=next((o for o in options if o.value == chosen), None),
                    placeholder="Default",
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id=ids.BLOCK_CHANNEL,
            label="Post the card in",
            optional=True,
            element=ConversationSelectElement(
                action_id=ids.ELEMENT,
                initial_conversation=channel_id,
                filter=ConversationFilter(include=["public", "private"]),
                placeholder="No channel: only DMs",
            ),
        )
    )
    links = [a for a in attachments if a.kind is AttachmentKind.SLACK_MESSAGE and a.url]
    if links:
        text = "Attached: " + ", ".join(
            render_link(a.url or "", a.title or "message") for a in links
        )
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=text)]))
    return View(
        type="modal",
        callback_id=ids.VIEW_CREATE,
        title=_title("New task"),
        submit="Create",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=blocks,
    )


def comment_modal(*, handle: str, version: int | None) -> View:
    return View(
        type="modal",
        callback_id=ids.VIEW_COMMENT,
        title=_title(f"Comment on {handle}"),
        submit="Comment",
        close="Cancel",
        private_metadata=TaskRefContext(handle=handle, version=version).dump(),
        blocks=[
            InputBlock(
                block_id=ids.BLOCK_COMMENT,
                label="Comment",
                element=PlainTextInputElement(
                    action_id=ids.ELEMENT, multiline=True, max_length=3000
                ),
            )
        ],
    )


def reassign_modal(
    task: Task, *, groups: list[tuple[str, str]], note: bool = False, rule: str | None = None
) -> View:
    """``rule``: the task system's one-assignee rule, where a task has one (then the pick
    replaces whoever has it, and an empty form clears it)."""
    users = [a.id for a in task.assignees if a.kind is AssigneeKind.USER]
    hint = (
        f"{rule}. Pick one person or one group; leave both empty to unassign."
        if rule
        else "Parts of people who stay are kept; new people start with a pending part."
    )
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=truncate(task_name(task), 3000))),
        InputBlock(
            block_id=ids.BLOCK_ASSIGNEES,
            label="Assignee" if rule else "Assignees",
            optional=True,
            element=UserMultiSelectElement(
                action_id=ids.ELEMENT,
                initial_users=users or None,
                placeholder="Pick a person" if rule else "Pick people",
                max_selected_items=1 if rule else None,
            ),
            hint=truncate(hint, 2000),
        ),
    ]
    group_block = _groups_block(groups, task.assignees, "Or a group" if rule else "Groups")
    if group_block is not None:
        blocks.append(group_block)
    if note:
        blocks.append(
            InputBlock(
                block_id=ids.BLOCK_NOTE,
                label="Comment for the new assignee",
                optional=True,
                element=PlainTextInputElement(
                    action_id=ids.ELEMENT, multiline=True, max_length=1000
                ),
            )
        )
    return View(
        type="modal",
        callback_id=ids.VIEW_REASSIGN,
        title=_title(f"Reassign {task.handle}"),
        submit="Save",
        close="Cancel",
        private_metadata=TaskRefContext(handle=task.handle, version=task.version).dump(),
        blocks=blocks,
    )


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_REMINDERS = {
    True: Option(value="on", label="Remind me before and at due dates"),
    False: Option(value="off", label="No deadline reminders"),
}


def settings_modal(current: ReminderSettings) -> View:
    days = [Option(value=str(i), label=name) for i, name in enumerate(WEEKDAYS)]
    chosen = [days[d] for d in sorted(current.hours.days)]
    return View(
        type="modal",
        callback_id=ids.VIEW_SETTINGS,
        title=_title("Reminder settings"),
        submit="Save",
        close="Cancel",
        blocks=[
            InputBlock(
                block_id=ids.BLOCK_REMINDERS_ON,
                label="Deadline reminders",
                element=RadioButtonsElement(
                    action_id=ids.ELEMENT,
                    options=list(_REMINDERS.values()),
                    initial_option=_REMINDERS[current.reminders_on],
                ),
            ),
            InputBlock(
                block_id=ids.BLOCK_WORK_START,
                label="My working day starts at",
                element=TimePickerElement(
                    action_id=ids.ELEMENT, initial_time=current.hours.start.strftime("%H:%M")
                ),
                hint="Reminders wait for your working hours, in your Slack time zone.",
            ),
            InputBlock(
                block_id=ids.BLOCK_WORK_END,
                label="and ends at",
                element=TimePickerElement(
                    action_id=ids.ELEMENT, initial_time=current.hours.end.strftime("%H:%M")
                ),
                hint="A task due on a date without a time is due at this hour.",
            ),
            InputBlock(
                block_id=ids.BLOCK_WORK_DAYS,
                label="on",
                element=CheckboxesElement(
                    action_id=ids.ELEMENT, options=days, initial_options=chosen or None
                ),
            ),
            ContextBlock(elements=[MarkdownTextObject(text=reminder_rule_text(current.hours))]),
            InputBlock(
                block_id=ids.BLOCK_DIGEST_AT,
                label="Daily digest of my open tasks at",
                optional=True,
                element=TimePickerElement(
                    action_id=ids.ELEMENT,
                    initial_time=current.digest_at.strftime("%H:%M") if current.digest_at else None,
                ),
                hint="On working days. Leave empty for no digest.",
            ),
        ],
    )


def reminder_rule_text(hours: WorkingHours) -> str:
    """What the rule does, with a worked case from the person's own hours."""
    margin = int(EARLY_MARGIN.total_seconds() // 60)
    text = (
        "Reminders before a deadline never come after it: one that falls outside your working "
        f"hours comes earlier, {margin} minutes before the end of your previous working day"
    )
    example = early_example(hours)
    if example is not None:
        due, remind = (f"{at:%A} {at:%H:%M}" for at in example)
        text += f" (with these hours, a task due {due} is reminded {remind})"
    return (
        f"{text}. If that moment has already passed, it comes at its usual time. "
        "Overdue reminders wait for the start of your working hours."
    )


def message_view(title: str, text: str) -> View:
    return View(
        type="modal",
        title=_title(title),
        close="Close",
        blocks=[SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))],
    )
