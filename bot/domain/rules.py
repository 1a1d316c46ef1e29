"""The task rules of DESIGN.md as pure functions: each takes a task and returns a changed copy.

Every change checks who may make it, bumps ``version`` and ``updated_at``, recomputes the status and
records a system comment. A refused change raises before anything is built, so nothing half-changes.
Imports only the domain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from bot.domain.errors import Conflict, InvalidInput, NotFound, NotPermitted
from bot.domain.models import (
    ATTACHMENT_TITLE_MAX,
    COMMENT_MAX,
    DESCRIPTION_MAX,
    DUE_MAX_YEARS,
    ENTITY_ID_MAX,
    MAX_ASSIGNEES,
    TITLE_MAX,
    URL_MAX,
    Actor,
    Assignee,
    AssigneeKind,
    Attachment,
    BackendCapabilities,
    Comment,
    CommentEvent,
    CompletionCondition,
    Due,
    Part,
    PartState,
    Status,
    Task,
    TaskDraft,
    TaskEdit,
    zone,
)

# --- validation ---------------------------------------------------------------------------------


def title_error(title: str) -> str | None:
    text = title.strip()
    if not text:
        return "Give the task a title."
    if len(text) > TITLE_MAX:
        return f"Keep the title to {TITLE_MAX} characters (it has {len(text)})."
    return None


def description_error(description: str) -> str | None:
    if len(description) > DESCRIPTION_MAX:
        return f"Keep the description to {DESCRIPTION_MAX} characters (it has {len(description)})."
    return None


def due_error(due: Due | None, now: datetime) -> str | None:
    """A due in the past is refused; a date alone counts as due at the end of that day.

    So is one more than ``DUE_MAX_YEARS`` ahead, checked on the date before any instant is
    computed (9999-12-31 in a zone west of UTC would overflow)."""
    if due is None:
        return None
    if due.date > latest_due_date(now):
        return (
            f"That due date is more than {DUE_MAX_YEARS} years away; "
            f"pick a date up to {latest_due_date(now):%Y-%m-%d}."
        )
    if due.has_time:
        if due.instant() <= now:
            return "That due time has already passed; pick a time in the future."
    elif due.date < now.astimezone(zone(due.tz)).date():
        return "That due date has already passed; pick today or a later date."
    return None


def latest_due_date(now: datetime) -> date:
    """The last due date accepted: ``DUE_MAX_YEARS`` from today (29 February becomes the 28th)."""
    today = now.date()
    try:
        return today.replace(year=today.year + DUE_MAX_YEARS)
    except ValueError:
        return today.replace(year=today.year + DUE_MAX_YEARS, day=28)


def clip(text: str, bound: int) -> str:
    """``text`` cut to ``bound`` characters, ending in "…" when cut (texts from task systems)."""
    return text if len(text) <= bound else text[: bound - 1].rstrip() + "…"


def bounded_attachment(attachment: Attachment) -> Attachment:
    """An attachment from a task system with every text within its bound."""
    return attachment.model_copy(
        update={
            "title": clip(attachment.title, ATTACHMENT_TITLE_MAX),
            "url": clip(attachment.url, URL_MAX) if attachment.url else attachment.url,
            "entity_type": clip(attachment.entity_type, ENTITY_ID_MAX)
            if attachment.entity_type
            else attachment.entity_type,
            "entity_id": clip(attachment.entity_id, ENTITY_ID_MAX)
            if attachment.entity_id
            else attachment.entity_id,
        }
    )


def assignees_error(assignees: Iterable[Assignee]) -> str | None:
    count = len(unique_assignees(assignees))
    if count > MAX_ASSIGNEES:
        return f"A task can have at most {MAX_ASSIGNEES} assignees (this one has {count})."
    return None


def assignment_rule(capabilities: BackendCapabilities) -> str | None:
    """What ``assign`` means where a task has one assignee (DESIGN.md), said on cards and in
    ``/task help``; None where tasks have several."""
    if capabilities.multi_assignee:
        return None
    return f"One assignee per task in {capabilities.label}: assigning replaces"


def added_comments(before: Task, after: Task) -> tuple[Comment, ...]:
    """The comments a change added (people's and system ones), oldest first."""
    known = {c.id for c in before.comments}
    return tuple(c for c in after.comments if c.id not in known)


def made_in(before: Task, after: Task, system: str) -> Task:
    """``after`` with the comments its change added marked as made in ``system`` (a task
    system's label): the history says where a pulled change was made, not who in Slack."""
    known = {c.id for c in before.comments}
    if all(c.id in known for c in after.comments):
        return after
    marked = tuple(
        c if c.id in known else c.model_copy(update={"origin": system}) for c in after.comments
    )
    return after.model_copy(update={"comments": marked})


def unique_assignees(assignees: Iterable[Assignee]) -> tuple[Assignee, ...]:
    """Assignees in first-seen order, without repeats."""
    return tuple(dict.fromkeys(assignees))


def validate_draft(draft: TaskDraft, now: datetime) -> None:
    """Raise InvalidInput naming every bad field of a new task."""
    errors = {
        field: message
        for field, message in (
            ("title", title_error(draft.title)),
            ("description", description_error(draft.description)),
            ("due", due_error(draft.due, now)),
            ("assignees", assignees_error(draft.assignees)),
        )
        if message
    }
    if errors:
        raise InvalidInput(errors)


def validate_comment(text: str) -> str:
    body = text.strip()
    if not body:
        raise InvalidInput({"comment": "Write something to comment."})
    if len(body) > COMMENT_MAX:
        raise InvalidInput({"comment": f"Keep a comment to {COMMENT_MAX} characters."})
    return body


# --- who may do what ----------------------------------------------------------------------------


def can_manage(task: Task, actor: Actor) -> bool:
    """Edit, reassign, delete, complete or reopen the whole task: the assignor and admins."""
    return actor.team_id == task.team_id and (actor.is_admin or actor.user_id == task.assignor)


def own_parts(task: Task, actor: Actor) -> tuple[Part, ...]:
    """The parts the actor answers for: their own, and those of groups they belong to."""
    if actor.team_id != task.team_id:
        return ()
    return tuple(
        p
        for p in task.parts
        if (p.assignee.kind is AssigneeKind.USER and p.assignee.id == actor.user_id)
        or (p.assignee.kind is AssigneeKind.GROUP and p.assignee.id in actor.group_ids)
    )


def is_participant(task: Task, actor: Actor) -> bool:
    return can_manage(task, actor) or bool(own_parts(task, actor))


def can_see(task: Task, actor: Actor, channel_id: str | None = None) -> bool:
    """Assignor, assignees, members of its groups, admins, and the channel it was posted in."""
    if actor.team_id != task.team_id:
        return False
    return is_participant(task, actor) or (channel_id is not None and channel_id == task.channel_id)


def ensure_live(task: Task) -> None:
    if task.deleted:
        raise NotFound(f"{task.handle} was deleted.")


def ensure_version(task: Task, expected: int | None) -> None:
    """A change based on an older version is refused, carrying the current task."""
    if expected is not None and expected != task.version:
        raise Conflict(
            f"{task.handle} changed since you last saw it (someone else updated it). "
            "Here it is as it is now; try again if you still want the change.",
            current=task,
        )


def ensure_can_manage(task: Task, actor: Actor, what: str) -> None:
    ensure_live(task)
    if not can_manage(task, actor):
        raise NotPermitted(f"Only the assignor of {task.handle} or a workspace admin can {what}.")


# --- status ---------------------------------------------------------------------------------------


def is_complete(condition: CompletionCondition, parts: tuple[Part, ...]) -> bool:
    done = [p.state is PartState.DONE for p in parts]
    if not done:
        return False
    return any(done) if condition is CompletionCondition.ANY_ONE else all(done)


def derive_status(task: Task, parts: tuple[Part, ...], condition: CompletionCondition) -> Status:
    """COMPLETED exactly when the condition holds; a completed task that no longer holds reopens."""
    if is_complete(condition, parts):
        return Status.COMPLETED
    if task.status is Status.COMPLETED:
        return Status.REOPENED
    if task.status is Status.NEW and any(p.state is PartState.DONE for p in parts):
        return Status.IN_PROGRESS
    return task.status


def _system(actor: Actor, event: CommentEvent, now: datetime, *subjects: str) -> Comment:
    text = {
        CommentEvent.CREATED: "created the task",
        CommentEvent.ASSIGNED: "assigned {}",
        CommentEvent.UNASSIGNED: "unassigned {}",
        CommentEvent.PART_DONE: "marked done the part of {}",
        CommentEvent.PART_UNDONE: "marked not done the part of {}",
        CommentEvent.COMPLETED: "completed the task",
        CommentEvent.REOPENED: "reopened the task",
        CommentEvent.EDITED: "edited {}",
        CommentEvent.CLAIMED: "is on it",
        CommentEvent.EXPANDED: "assigned a group as its members, as this task system has none: {}",
        CommentEvent.OPERATOR: "made it with the task system's operator account",
    }[event].format(", ".join(subjects))
    return Comment(
        author=actor.user_id, text=text, created_at=now, event=event, subjects=tuple(subjects)
    )


def _changed(
    task: Task,
    actor: Actor,
    now: datetime,
    comments: Iterable[Comment] = (),
    parts: tuple[Part, ...] | None = None,
    condition: CompletionCondition | None = None,
    status: Status | None = None,
    updates: dict[str, object] | None = None,
) -> Task:
    new_parts = task.parts if parts is None else parts
    new_condition = condition or task.condition
    status = status or derive_status(task, new_parts, new_condition)
    extra: list[Comment] = list(comments)
    if status is Status.COMPLETED and task.status is not Status.COMPLETED:
        extra.append(_system(actor, CommentEvent.COMPLETED, now))
    return task.model_copy(
        update={
            **(updates or {}),
            "parts": new_parts,
            "condition": new_condition,
            "status": status,
            "comments": task.comments + tuple(extra),
            "updated_at": now,
            "version": task.version + 1,
        }
    )


# --- changes --------------------------------------------------------------------------------------


def new_task(draft: TaskDraft, *, task_id: str, handle: str, now: datetime) -> Task:
    """The task a validated draft becomes, once the backend has given it an id and a handle."""
    validate_draft(draft, now)
    assignees = unique_assignees(draft.assignees)
    return Task(
        team_id=draft.team_id,
        id=task_id,
        handle=handle,
        title=draft.title.strip(),
        description=draft.description.strip(),
        due=draft.due,
        condition=draft.condition,
        status=Status.NEW,
        assignor=draft.assignor,
        parts=tuple(Part(assignee=a) for a in assignees),
        attachments=draft.attachments,
        channel_id=draft.channel_id,
        created_at=now,
        updated_at=now,
        version=1,
    )


def set_own_parts(task: Task, actor: Actor, state: PartState, now: datetime) -> Task:
    """An assignee marks their part (and their groups' parts) done or not done.

    Returns the task unchanged (same version) when nothing changes, e.g. done twice.
    """
    ensure_live(task)
    mine = own_parts(task, actor)
    if not mine:
        raise NotPermitted(
            f"You're not an assignee of {task.handle}, so you can't mark it done or not done."
        )
    targets = {p.assignee for p in mine if p.state is not state}
    if not targets:
        return task
    parts = tuple(
        (
            Part(
                assignee=p.assignee,
                state=state,
                done_by=actor.user_id if state is PartState.DONE else None,
                done_at=now if state is PartState.DONE else None,
            )
            if p.assignee in targets
            else p
        )
        for p in task.parts
    )
    event = CommentEvent.PART_DONE if state is PartState.DONE else CommentEvent.PART_UNDONE
    names = [a.id for a in task.assignees if a in targets]
    return _changed(task, actor, now, [_system(actor, event, now, *names)], parts=parts)


def claim(task: Task, actor: Actor, now: datetime) -> Task:
    """An assignee of an open ANY_ONE task says "I'm on it", so the others know.

    The task goes IN_PROGRESS; claiming again, or a task already claimed by the actor, is a no-op.
    """
    ensure_live(task)
    if task.condition is not CompletionCondition.ANY_ONE:
        raise InvalidInput(
            {"task": f"{task.handle} needs every assignee, so there is nothing to claim."}
        )
    if not task.is_open:
        raise InvalidInput({"task": f"{task.handle} is already completed."})
    if not any(p.state is PartState.TODO for p in own_parts(task, actor)):
        raise NotPermitted(f"Only an assignee with a pending part can claim {task.handle}.")
    if task.claimed_by == actor.user_id:
        return task
    comment = _system(actor, CommentEvent.CLAIMED, now, actor.user_id)
    return _changed(task, actor, now, [comment], status=Status.IN_PROGRESS)


def complete_task(task: Task, actor: Actor, now: datetime) -> Task:
    """The assignor (or an admin) completes the whole task: every pending part becomes DONE."""
    ensure_can_manage(task, actor, "complete the whole task")
    if task.is_completed:
        return task
    parts = tuple(
        p
        if p.state is PartState.DONE
        else Part(assignee=p.assignee, state=PartState.DONE, done_by=actor.user_id, done_at=now)
        for p in task.parts
    )
    return _changed(task, actor, now, parts=parts, status=Status.COMPLETED)


def reopen(task: Task, actor: Actor, now: datetime) -> Task:
    """The assignor (or an admin) reopens a completed task: every part goes back to TODO."""
    ensure_can_manage(task, actor, "reopen it")
    if not task.is_completed:
        raise InvalidInput(
            {"status": f"{task.handle} is not completed, so there is nothing to reopen."}
        )
    parts = tuple(Part(assignee=p.assignee) for p in task.parts)
    comment = _system(actor, CommentEvent.REOPENED, now)
    return _changed(task, actor, now, [comment], parts=parts, status=Status.REOPENED)


def assign(task: Task, actor: Actor, assignees: Iterable[Assignee], now: datetime) -> Task:
    """Add assignees (each with a TODO part); ones already assigned are left as they are."""
    ensure_can_manage(task, actor, "assign it")
    new = [a for a in unique_assignees(assignees) if task.part_of(a) is None]
    if not new:
        return task
    problem = assignees_error([*task.assignees, *new])
    if problem:
        raise InvalidInput({"assignees": problem})
    parts = task.parts + tuple(Part(assignee=a) for a in new)
    comment = _system(actor, CommentEvent.ASSIGNED, now, *(a.id for a in new))
    return _changed(task, actor, now, [comment], parts=parts)


def unassign(task: Task, actor: Actor, assignees: Iterable[Assignee], now: datetime) -> Task:
    """Remove assignees; naming someone who is not assigned is an input error."""
    ensure_can_manage(task, actor, "unassign people")
    gone = unique_assignees(assignees)
    missing = [a.id for a in gone if task.part_of(a) is None]
    if missing:
        raise InvalidInput({"assignees": f"Not assigned to {task.handle}: {', '.join(missing)}."})
    if not gone:
        return task
    parts = tuple(p for p in task.parts if p.assignee not in gone)
    comment = _system(actor, CommentEvent.UNASSIGNED, now, *(a.id for a in gone))
    return _changed(task, actor, now, [comment], parts=parts)


def reassign(task: Task, actor: Actor, assignees: Iterable[Assignee], now: datetime) -> Task:
    """Replace the assignees: parts of those who stay are kept as they are."""
    ensure_can_manage(task, actor, "reassign it")
    wanted = unique_assignees(assignees)
    problem = assignees_error(wanted)
    if problem:
        raise InvalidInput({"assignees": problem})
    gone = [a for a in task.assignees if a not in wanted]
    added = [a for a in wanted if task.part_of(a) is None]
    if not gone and not added:
        return task
    parts = tuple(task.part_of(a) or Part(assignee=a) for a in wanted)
    comments = []
    if added:
        comments.append(_system(actor, CommentEvent.ASSIGNED, now, *(a.id for a in added)))
    if gone:
        comments.append(_system(actor, CommentEvent.UNASSIGNED, now, *(a.id for a in gone)))
    return _changed(task, actor, now, comments, parts=parts)


def edit(task: Task, actor: Actor, change: TaskEdit, now: datetime) -> Task:
    """Change title, description, due, condition or status (the assignor or an admin)."""
    ensure_can_manage(task, actor, "edit it")
    errors: dict[str, str] = {}
    fields: dict[str, object] = {}
    status: Status | None = None
    if change.title is not None and change.title.strip() != task.title:
        if problem := title_error(change.title):
            errors["title"] = problem
        fields["title"] = change.title.strip()
    if change.description is not None and change.description.strip() != task.description:
        if problem := description_error(change.description):
            errors["description"] = problem
        fields["description"] = change.description.strip()
    if change.clear_due and task.due is not None:
        fields["due"] = None
    elif change.due is not None and change.due != task.due:
        if problem := due_error(change.due, now):
            errors["due"] = problem
        fields["due"] = change.due
    if change.status is not None and change.status is not task.status:
        if change.status in (Status.COMPLETED, Status.REOPENED):
            errors["status"] = "Use Done or Reopen to complete or reopen a task."
        status = change.status
    condition = change.condition if change.condition not in (None, task.condition) else None
    if errors:
        raise InvalidInput(errors)
    names = sorted(
        [*fields, *(["condition"] if condition else []), *(["status"] if status else [])]
    )
    if not names:
        return task
    comment = _system(actor, CommentEvent.EDITED, now, *names)
    return _changed(task, actor, now, [comment], condition=condition, status=status, updates=fields)


def add_comment(task: Task, actor: Actor, text: str, now: datetime) -> tuple[Task, Comment]:
    """The assignor, an assignee or an admin comments; others may not."""
    ensure_live(task)
    if not is_participant(task, actor):
        raise NotPermitted(f"Only the assignor and assignees of {task.handle} can comment on it.")
    comment = Comment(author=actor.user_id, text=validate_comment(text), created_at=now)
    changed = task.model_copy(
        update={
            "comments": task.comments + (comment,),
            "updated_at": now,
            "version": task.version + 1,
        }
    )
    return changed, comment


def delete(task: Task, actor: Actor, now: datetime) -> Task:
    ensure_can_manage(task, actor, "delete it")
    return task.model_copy(update={"deleted": True, "updated_at": now, "version": task.version + 1})


def note_expansion(task: Task, actor: Actor, groups: Sequence[str], now: datetime) -> Task:
    """Record on the task that these user groups were assigned as their members."""
    if not groups:
        return task
    return _changed(task, actor, now, [_system(actor, CommentEvent.EXPANDED, now, *groups)])
