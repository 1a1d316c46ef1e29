"""Which buttons a reader gets on a task, by where the card is and who reads it."""

from __future__ import annotations

from slack_sdk.models.blocks import ButtonElement, ConfirmObject

from bot.domain.models import (
    Actor,
    AssigneeKind,
    BackendCapabilities,
    CardKind,
    CompletionCondition,
    Part,
    PartState,
    Task,
)
from bot.domain.rules import own_parts
from bot.slack import ids


def _button(text: str, action_id: str, task: Task, style: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=text,
        action_id=action_id,
        value=ids.encode_ref(task.handle, task.version),
        style=style,
    )


def card_buttons(
    task: Task, *, viewer: str | None, kind: CardKind, capabilities: BackendCapabilities
) -> list[ButtonElement]:
    """Completed: only the assignor's DM keeps a Reopen button. Deleted: none."""
    if task.deleted:
        return []
    is_assignor_card = kind is CardKind.ASSIGNOR_DM
    if task.is_completed:
        if is_assignor_card and capabilities.complete:
            return [_button("Reopen", ids.ACTION_REOPEN, task)]
        return []
    buttons: list[ButtonElement] = []
    any_one = task.condition is CompletionCondition.ANY_ONE
    if kind is CardKind.CHANNEL:
        if capabilities.complete:
            buttons.append(_button("Done", ids.ACTION_DONE, task, "primary"))
            if task.done_count:
                buttons.append(_button("Undo", ids.ACTION_UNDO, task))
            if any_one and task.claimed_by is None and len(task.parts) > 1:
                buttons.append(_button("I'm on it", ids.ACTION_CLAIM, task))
    else:
        mine = _own_parts(task, viewer, kind)
        if mine and capabilities.complete:
            if all(p.state is PartState.DONE for p in mine):
                buttons.append(_button("Undo", ids.ACTION_UNDO, task))
            else:
                buttons.append(_button("Done", ids.ACTION_DONE, task, "primary"))
                if any_one and task.claimed_by != viewer and len(task.parts) > 1:
                    buttons.append(_button("I'm on it", ids.ACTION_CLAIM, task))
        if is_assignor_card and capabilities.complete:
            complete = _button("Complete task", ids.ACTION_COMPLETE, task)
            complete.confirm = ConfirmObject(
                title="Complete the whole task?",
                text=f"This marks every pending part of {task.handle} done.",
                confirm="Complete",
                deny="Cancel",
            )
            buttons.append(complete)
    if capabilities.comments:
        buttons.append(_button("Comment", ids.ACTION_COMMENT, task))
    if kind in (CardKind.CHANNEL, CardKind.ASSIGNOR_DM):
        buttons.append(_button("Reassign", ids.ACTION_REASSIGN, task))
    return buttons


def _own_parts(task: Task, viewer: str | None, kind: CardKind) -> tuple[Part, ...]:
    """The viewer's own part; on an assignee DM without one, the viewer reached it as a member
    of the task's groups (a pure renderer can't look membership up), so the group parts."""
    if viewer is None:
        return ()
    mine = own_parts(task, Actor(team_id=task.team_id, user_id=viewer))
    if mine or kind not in (CardKind.ASSIGNEE_DM, CardKind.REMINDER_DM):
        return mine
    return tuple(p for p in task.parts if p.assignee.kind is AssigneeKind.GROUP)
