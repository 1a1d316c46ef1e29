"""Task use cases: load, check who may, apply a domain rule, save with a version check, notify.

Imports only ``bot.domain`` and the ports. A Conflict on save with no version given by the person
(their own part, a typed command) means someone changed the task meanwhile: the rule is applied
again to the fresh copy, so two assignees pressing Done at the same moment both count.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.domain import rules
from bot.domain.errors import (
    AlreadyApplied,
    ChangedThere,
    Conflict,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from bot.domain.events import Effect, EventKind, Notice, TaskEvent, notice_key
from bot.domain.models import (
    COMMENT_MAX,
    Actor,
    Assignee,
    AssigneeKind,
    BackendCapabilities,
    Comment,
    CommentEvent,
    ListView,
    PageKey,
    PartState,
    Status,
    Task,
    TaskDraft,
    TaskEdit,
    TaskPage,
    TaskQuery,
    format_handle,
    parse_handle,
)
from bot.domain.naming import Naming
from bot.domain.reminders import ReminderSettings
from bot.service.ports import (
    PRIVILEGE_MAX_AGE,
    AppliesOnce,
    Categorised,
    ChannelAccess,
    Clock,
    Directory,
    Notifier,
    TaskBackend,
)
from bot.service.reminders import ReminderPlanner
from bot.service.user_links import Prepared, UserLinks

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3
_GROUP_VIEWS = (ListView.MINE, ListView.OVERDUE, ListView.INVOLVED)

Change = Callable[[Task, Actor], Task]


def normalise_handle(text: str) -> str:
    number = parse_handle(text)
    if number is None:
        raise InvalidInput({"task": f"`{text}` isn't a task handle; they look like T-12."})
    return format_handle(number)


class TaskService:
    """The use cases behind every Slack surface; the only place that applies the rules."""

    def __init__(
        self,
        backend: TaskBackend,
        notifier: Notifier,
        directory: Directory,
        clock: Clock,
        *,
        admins: frozenset[str] = frozenset(),
        reminders: ReminderPlanner | None = None,
        links: UserLinks | None = None,
        channels: ChannelAccess | None = None,
    ) -> None:
        self._backend = backend
        self._channels = channels
        self._reminders = reminders
        self.links = links
        self._notifier = notifier
        self._directory = directory
        self._clock = clock
        self._admins = admins
        self._key: str | None = None
        self.deliver_now: Callable[[str], None] | None = None
        """Runs a queued notification job at once (set where a worker runs in this process)."""
        self.reader_changed: Callable[[Task, str], None] | None = None
        """Rewrites a person's own cards of a task after their reminders were re-planned."""

    def keyed(self, key: str) -> TaskService:
        """This service for one Slack interaction: a change it makes happens once per ``key``
        (a replay finds it done and changes nothing) and its notifications are queued as a job
        in the same transaction, where the backend can (``AppliesOnce``)."""
        twin = copy.copy(self)
        twin._key = key
        return twin

    def _once(self) -> tuple[AppliesOnce, str] | None:
        if self._key is None or not isinstance(self._backend, AppliesOnce):
            return None
        return self._backend, self._key

    @property
    def capabilities(self) -> BackendCapabilities:
        return self._backend.capabilities

    # --- who is acting ------------------------------------------------------------------------

    def actor(self, team_id: str, user_id: str, task: Task | None = None) -> Actor:
        """The actor with what the rules need: admin flag and relevant group memberships."""
        is_admin = (
            user_id in self._admins
            or self._directory.person(team_id, user_id, max_age=PRIVILEGE_MAX_AGE).is_admin
        )
        if task is None:
            groups = self._directory.groups_of(team_id, user_id)
        else:
            groups = frozenset(
                a.id
                for a in task.assignees
                if a.kind is AssigneeKind.GROUP and user_id in self._group_members(team_id, a.id)
            )
        return Actor(team_id=team_id, user_id=user_id, is_admin=is_admin, group_ids=groups)

    def _group_members(self, team_id: str, group_id: str) -> frozenset[str]:
        try:
            return self._directory.group_members(team_id, group_id)
        except NotFound:
            return frozenset()

    def _enrich(self, actor: Actor, task: Task) -> Actor:
        return self.actor(actor.team_id, actor.user_id, task)

    # --- create and read ------------------------------------------------------------------------

    def create_task(self, actor: Actor, draft: TaskDraft) -> Task:
        """Validate everything before the backend sees it, so a refusal writes nothing."""
        if draft.team_id != actor.team_id or draft.assignor != actor.user_id:
            raise NotPermitted("You can only create tasks as yourself, in your own workspace.")
        now = self._clock()
        rules.validate_draft(draft, now)
        if draft.channel_id is not None and self._channels is not None:
            self._channels.check_channel(actor.team_id, draft.channel_id, actor.user_id)
        prepared = self._prepare(actor, draft.assignees)
        draft = draft.model_copy(update={"assignees": prepared.assignees})
        self._check_capabilities(draft)
        once = self._once()
        if once is not None:
            try:
                task = once[0].create_once(draft, now, Effect(once[1], _creation_notice(actor)))
            except AlreadyApplied as replay:
                return replay.current
        else:
            task = self._backend.create(draft, now)
        if prepared.expanded_groups:
            noted = rules.note_expansion(task, actor, prepared.expanded_groups, now)
            task = self._backend.save(noted, expected_version=task.version)
        self._replan(task)
        if once is None:
            self._notify(_creation_events(task, actor))
        else:
            self._deliver(once[1])
        return task

    def _prepare(
        self, actor: Actor, assignees: Sequence[Assignee], already: Sequence[Assignee] = ()
    ) -> Prepared:
        """Known people only; groups expanded where the backend has none; everyone linked.

        Called once the actor's rights are checked. The cap on assignees (with ``already``, those
        the task keeps) is checked first and again after groups are expanded, so a large group
        costs no lookups. Unlinked people are named in the refusal (remove them to save for the
        others); nobody is DMed, since nothing was saved."""
        self._check_cap(already, assignees)
        self._check_assignees(actor.team_id, assignees)
        if self.links is None:
            return Prepared(assignees=tuple(assignees))
        prepared = self.links.prepare(actor.team_id, assignees, already=already)
        if prepared.unlinked:
            naming = Naming()
            names = naming(prepared.unlinked)
            raise InvalidInput(
                {
                    "assignees": f"{names} {'is' if len(prepared.unlinked) == 1 else 'are'} not "
                    f"linked to {self.links.backend_name} yet. Remove them to save the task for "
                    "the others; they can link themselves with `/task link <their-id>`, or an "
                    "admin can with `/task link @user <id>`."
                },
                refs=naming.refs,
            )
        return prepared

    @staticmethod
    def _check_cap(already: Sequence[Assignee], assignees: Sequence[Assignee]) -> None:
        problem = rules.assignees_error([*already, *assignees])
        if problem:
            raise InvalidInput({"assignees": problem})

    def _manageable(self, actor: Actor, handle: str, what: str) -> Task:
        """Permission first: the task exists and the actor may manage it, before any assignee
        is looked up, any task API is called or anything is sent."""
        task = self._backend.get(actor.team_id, normalise_handle(handle))
        rules.ensure_can_manage(task, self._enrich(actor, task), what)
        return task

    def _check_capabilities(self, draft: TaskDraft) -> None:
        caps = self.capabilities
        errors: dict[str, str] = {}
        if not caps.create:
            errors["task"] = (
                f"The {self._backend.name} task system doesn't let taskbot create tasks."
            )
        if not caps.groups and any(a.kind is AssigneeKind.GROUP for a in draft.assignees):
            errors["assignees"] = "This task system has no groups; pick people instead."
        elif not caps.multi_assignee and len(draft.assignees) > 1:
            errors["assignees"] = _one_assignee(caps)
        if not caps.due_time and draft.due is not None and draft.due.has_time:
            errors["due"] = "This task system keeps due dates without a time; pick a date only."
        if errors:
            raise InvalidInput(errors)

    def _check_assignees(self, team_id: str, assignees: Sequence[Assignee]) -> None:
        unknown: list[Assignee] = []
        bots: list[Assignee] = []
        for assignee in assignees:
            try:
                if assignee.kind is AssigneeKind.GROUP:
                    self._directory.group_members(team_id, assignee.id)
                elif self._directory.person(team_id, assignee.id).is_bot:
                    bots.append(assignee)
            except NotFound:
                unknown.append(assignee)
        naming = Naming()
        problems = []
        if unknown:
            problems.append(f"I can't find {naming(unknown)} in this workspace.")
        if bots:
            problems.append(f"Bots can't be assigned tasks: {naming(bots)}.")
        if problems:
            raise InvalidInput({"assignees": " ".join(problems)}, refs=naming.refs)

    def show(self, actor: Actor, handle: str, channel_id: str | None = None) -> Task:
        """The task, if the actor may see it (participants, admins, its channel)."""
        task = self._backend.get(actor.team_id, normalise_handle(handle))
        if not rules.can_see(task, self._enrich(actor, task), channel_id):
            raise NotPermitted(f"{task.handle} isn't yours to see: you're not part of it.")
        return task

    def list_tasks(
        self, actor: Actor, view: ListView, channel_id: str | None = None, limit: int = 50
    ) -> list[Task]:
        return self.list_page(actor, view, channel_id=channel_id, limit=limit)

    def list_page(
        self,
        actor: Actor,
        view: ListView,
        *,
        channel_id: str | None = None,
        limit: int = 50,
        after: PageKey | None = None,
        before: PageKey | None = None,
    ) -> TaskPage:
        """One page of a list with the whole list's count (a backend that doesn't count gives
        one page, counted as it is)."""
        groups = (
            self._directory.groups_of(actor.team_id, actor.user_id)
            if view in _GROUP_VIEWS
            else frozenset()
        )
        query = TaskQuery(
            team_id=actor.team_id,
            view=view,
            user_id=actor.user_id,
            group_ids=groups,
            channel_id=channel_id,
            now=self._clock(),
            limit=limit,
            after=after,
            before=before,
        )
        tasks = self._backend.list(query)
        if isinstance(tasks, TaskPage):
            return tasks
        return TaskPage(tasks, total=len(tasks), more_before=False, more_after=False)

    # --- changes ----------------------------------------------------------------------------------

    def complete_part(self, actor: Actor, handle: str, expected_version: int | None = None) -> Task:
        """Mark the actor's part done; the assignor (not an assignee) completes the whole task."""

        def change(task: Task, who: Actor) -> Task:
            if rules.own_parts(task, who):
                return rules.set_own_parts(task, who, PartState.DONE, self._clock())
            if rules.can_manage(task, who):
                return rules.complete_task(task, who, self._clock())
            raise NotPermitted(
                f"You're not an assignee of {task.handle}, so you can't mark it done."
            )

        return self._change(actor, handle, expected_version, change)

    def undo_part(self, actor: Actor, handle: str, expected_version: int | None = None) -> Task:
        """Mark the actor's part not done; the assignor's undo of a completed task reopens it."""

        def change(task: Task, who: Actor) -> Task:
            if rules.own_parts(task, who):
                return rules.set_own_parts(task, who, PartState.TODO, self._clock())
            if rules.can_manage(task, who) and task.is_completed:
                return rules.reopen(task, who, self._clock())
            raise NotPermitted(
                f"You're not an assignee of {task.handle}, so you can't mark it not done."
            )

        return self._change(actor, handle, expected_version, change)

    def claim(self, actor: Actor, handle: str) -> Task:
        """An assignee says "I'm on it" on an ANY_ONE task."""
        return self._change(actor, handle, None, lambda t, who: rules.claim(t, who, self._clock()))

    def complete_task(self, actor: Actor, handle: str, expected_version: int | None = None) -> Task:
        return self._change(
            actor,
            handle,
            expected_version,
            lambda t, who: rules.complete_task(t, who, self._clock()),
        )

    def reopen(self, actor: Actor, handle: str, expected_version: int | None = None) -> Task:
        return self._change(
            actor, handle, expected_version, lambda t, who: rules.reopen(t, who, self._clock())
        )

    def assign(
        self,
        actor: Actor,
        handle: str,
        assignees: Sequence[Assignee],
        expected_version: int | None = None,
    ) -> Task:
        """Add assignees; where a task has one (``multi_assignee`` False), replace it."""
        if not self.capabilities.multi_assignee:
            wanted = rules.unique_assignees(assignees)
            if len(wanted) != 1:
                raise InvalidInput({"assignees": _one_assignee(self.capabilities)})
            return self.reassign(actor, handle, wanted, expected_version)
        task = self._manageable(actor, handle, "assign it")
        prepared = self._prepare(actor, assignees, already=task.assignees)
        return self._change(
            actor,
            handle,
            expected_version,
            lambda t, who: self._capable(
                rules.note_expansion(
                    rules.assign(t, who, prepared.assignees, self._clock()),
                    who,
                    prepared.expanded_groups,
                    self._clock(),
                )
            ),
        )

    def unassign(
        self,
        actor: Actor,
        handle: str,
        assignees: Sequence[Assignee],
        expected_version: int | None = None,
    ) -> Task:
        """Remove the named assignees; where a task has one, naming nobody clears it."""
        single = not self.capabilities.multi_assignee
        if not assignees and not single:
            raise InvalidInput({"assignees": "Name who to unassign: `/task unassign T-n @user`."})
        return self._change(
            actor,
            handle,
            expected_version,
            lambda t, who: rules.unassign(t, who, assignees or t.assignees, self._clock()),
        )

    def reassign(
        self,
        actor: Actor,
        handle: str,
        assignees: Sequence[Assignee],
        expected_version: int | None = None,
        *,
        note: str | None = None,
    ) -> Task:
        """``note`` goes with the reassignment (a comment; the backend may send it along)."""
        self._manageable(actor, handle, "reassign it")
        prepared = self._prepare(actor, assignees)
        return self._change(
            actor,
            handle,
            expected_version,
            lambda t, who: self._capable(
                _with_note(
                    rules.note_expansion(
                        rules.reassign(t, who, prepared.assignees, self._clock()),
                        who,
                        prepared.expanded_groups,
                        self._clock(),
                    ),
                    t,
                    who,
                    note,
                    self._clock(),
                )
            ),
        )

    def _capable(self, task: Task) -> Task:
        """Refuse an assignment the backend can't hold (groups, several assignees)."""
        caps = self.capabilities
        if not caps.groups and any(a.kind is AssigneeKind.GROUP for a in task.assignees):
            raise InvalidInput(
                {"assignees": "This task system has no groups; pick people instead."}
            )
        if not caps.multi_assignee and len(task.parts) > 1:
            raise InvalidInput({"assignees": _one_assignee(caps)})
        return task

    def comment(self, actor: Actor, handle: str, text: str) -> tuple[Task, Comment]:
        """A comment by an assignor, assignee or admin; shown in the card's thread."""
        if not self.capabilities.comments:
            raise InvalidInput({"comment": "This task system doesn't keep comments."})
        added: list[Comment] = []

        def change(task: Task, who: Actor) -> Task:
            changed, comment = rules.add_comment(task, who, text, self._clock())
            added[:] = [comment]
            return changed

        task = self._change(actor, handle, None, change)
        return task, added[-1]

    def edit(
        self, actor: Actor, handle: str, change: TaskEdit, expected_version: int | None = None
    ) -> Task:
        if change.due is not None and change.due.has_time and not self.capabilities.due_time:
            raise InvalidInput({"due": "This task system keeps due dates without a time."})
        return self._change(
            actor,
            handle,
            expected_version,
            lambda t, who: rules.edit(t, who, change, self._clock()),
        )

    def delete(self, actor: Actor, handle: str, expected_version: int | None = None) -> Task:
        """Delete (assignor or admin); returns the task marked deleted so cards can say so."""
        if not self.capabilities.delete:
            raise InvalidInput({"task": "This task system doesn't let taskbot delete tasks."})
        key = normalise_handle(handle)
        task = self._backend.get(actor.team_id, key)
        rules.ensure_version(task, expected_version)
        who = self._enrich(actor, task)
        deleted = rules.delete(task, who, self._clock())
        self._backend.delete(actor.team_id, key, task.version)
        self._replan(deleted)
        self._notify([TaskEvent(kind=EventKind.DELETED, task=deleted, actor=who)])
        return deleted

    # --- the one change loop ----------------------------------------------------------------------

    def _change(
        self, actor: Actor, handle: str, expected_version: int | None, change: Change
    ) -> Task:
        key = normalise_handle(handle)
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            before = self._backend.get(actor.team_id, key)
            rules.ensure_version(before, expected_version)
            who = self._enrich(actor, before)
            after = change(before, who)
            if after is before or after.version == before.version:
                return before  # nothing to do: no save, no notification
            once = self._once()
            try:
                if once is None:
                    saved = self._backend.save(after, expected_version=before.version)
                else:
                    saved = once[0].save_once(
                        after, before.version, Effect(once[1], _change_notice(before, who))
                    )
            except AlreadyApplied as replay:  # a replayed interaction: done the first time
                return replay.current
            except Conflict as conflict:
                stale = expected_version is not None or isinstance(conflict, ChangedThere)
                if stale or attempt == SAVE_ATTEMPTS:
                    raise
                continue
            self._replan(saved)
            if once is None:
                self._notify(_events(before, saved, who))
            else:
                self._deliver(once[1])
            return saved
        raise AssertionError("unreachable")  # pragma: no cover

    def snooze(self, actor: Actor, handle: str, until: datetime) -> Task:
        """Remind the actor again at ``until``; only someone with a pending part can."""
        task = self._backend.get(actor.team_id, normalise_handle(handle))
        who = self._enrich(actor, task)
        if not any(p.state is PartState.TODO for p in rules.own_parts(task, who)):
            raise NotPermitted(f"You have nothing pending on {task.handle} to be reminded of.")
        if until <= self._clock():
            raise InvalidInput({"until": "Pick a time in the future."})
        if self._reminders is not None:
            self._reminders.snooze(task, actor.user_id, until)
            self._refresh_reader(task, actor.user_id)
        return task

    def categories(self, actor: Actor) -> list[tuple[str, str]]:
        """The person's categories in the task system, for the create form (may be empty)."""
        if not isinstance(self._backend, Categorised):
            return []
        return self._backend.categories(actor.team_id, actor.user_id)

    def reminder_settings(self, actor: Actor) -> ReminderSettings:
        if self._reminders is None:
            return ReminderSettings()
        return self._reminders.settings_of(actor.team_id, actor.user_id)

    def next_reminder(self, task: Task, user_id: str) -> datetime | None:
        """The person's next reminder for the task, for a card only they read."""
        if self._reminders is None or not task.is_open:
            return None
        return self._reminders.next_reminder(task.team_id, task.id, user_id)

    def save_reminder_settings(self, actor: Actor, settings: ReminderSettings) -> ReminderSettings:
        """Everyone sets their own; their pending reminders move into the new hours at once."""
        if self._reminders is None:
            raise InvalidInput({"settings": "Reminders are not set up on this taskbot."})
        if not settings.hours.days:
            raise InvalidInput({"days": "Pick at least one working day."})
        if settings.hours.end <= settings.hours.start:
            raise InvalidInput({"end": "The working day must end after it starts."})
        for handle in self._reminders.save_settings(actor.team_id, actor.user_id, settings):
            try:
                task = self._backend.get(actor.team_id, handle)
            except NotFound:
                continue
            self._replan(task)
            self._refresh_reader(task, actor.user_id)
        return settings

    def _refresh_reader(self, task: Task, user_id: str) -> None:
        if self.reader_changed is None:
            return
        try:
            self.reader_changed(task, user_id)
        except Exception:  # the settings are stored; the card sweep rewrites the card later
            log.exception("card refresh failed team=%s task=%s", task.team_id, task.handle)

    def _replan(self, task: Task) -> None:
        if self._reminders is None:
            return
        try:
            self._reminders.replan(task)
        except Exception:  # the change is stored; reminders are re-planned at the next change
            log.exception("reminder planning failed team=%s task=%s", task.team_id, task.handle)

    def freshest(self, events: Sequence[TaskEvent]) -> list[TaskEvent]:
        """The events with the task as stored now, when it moved on since they were queued
        (a note added after the create): cards posted late show the truth."""
        if not events:
            return []
        task = events[-1].task
        try:
            current = self._backend.get(task.team_id, task.handle)
        except NotFound:
            return list(events)
        if current.id != task.id or current.version <= task.version:
            return list(events)
        return [e.model_copy(update={"task": current}) for e in events]

    def _deliver(self, key: str) -> None:
        """The notifications a keyed change queued, sent now where this process can."""
        if self.deliver_now is None:
            return
        try:
            self.deliver_now(notice_key(key))
        except Exception:  # the job is stored: a worker sends it
            log.exception("notification job %s left to the workers", key)

    def _notify(self, events: list[TaskEvent]) -> None:
        if not events:
            return
        try:
            self._notifier.notify(events)
        except Exception:  # the change is stored; telling people is best effort
            task = events[-1].task
            log.exception("notify failed team=%s task=%s", task.team_id, task.handle)


def _one_assignee(capabilities: BackendCapabilities) -> str:
    return f"{rules.assignment_rule(capabilities)}, so name one person or group."


def _creation_events(task: Task, actor: Actor) -> list[TaskEvent]:
    return [
        TaskEvent(kind=EventKind.CREATED, task=task, actor=actor),
        TaskEvent(kind=EventKind.ASSIGNED, task=task, actor=actor, assignees=task.assignees),
    ]


def _creation_notice(actor: Actor) -> Callable[[Task], str]:
    return lambda task: Notice(events=_creation_events(task, actor)).model_dump_json()


def _change_notice(before: Task, actor: Actor) -> Callable[[Task], str]:
    return lambda saved: Notice(events=_events(before, saved, actor)).model_dump_json()


def _events(before: Task, after: Task, actor: Actor) -> list[TaskEvent]:
    """What changed between two versions of a task, as events for the Notifier."""
    events: list[TaskEvent] = []

    def add(
        kind: EventKind, assignees: tuple[Assignee, ...] = (), comment: Comment | None = None
    ) -> None:
        events.append(
            TaskEvent(kind=kind, task=after, actor=actor, assignees=assignees, comment=comment)
        )

    old = {p.assignee: p for p in before.parts}
    new = {p.assignee: p for p in after.parts}
    done = tuple(
        a
        for a, p in new.items()
        if a in old and old[a].state != p.state and p.state is PartState.DONE
    )
    undone = tuple(
        a
        for a, p in new.items()
        if a in old and old[a].state != p.state and p.state is PartState.TODO
    )
    if done:
        add(EventKind.PART_DONE, done)
    if undone and after.status is not Status.REOPENED:
        add(EventKind.PART_UNDONE, undone)
    if after.status is Status.COMPLETED and before.status is not Status.COMPLETED:
        add(EventKind.COMPLETED)
    if after.status is Status.REOPENED and before.status is not Status.REOPENED:
        add(EventKind.REOPENED)
    if after.claimed_by and after.claimed_by != before.claimed_by:
        add(EventKind.CLAIMED)
    added = tuple(a for a in new if a not in old)
    removed = tuple(a for a in old if a not in new)
    if added:
        add(EventKind.ASSIGNED, added)
    if removed:
        add(EventKind.UNASSIGNED, removed)
    new_comments = rules.added_comments(before, after)
    for comment in new_comments:
        if not comment.system:
            add(EventKind.COMMENTED, comment=comment)
    if any(c.event is CommentEvent.EDITED for c in new_comments):
        add(EventKind.EDITED)
    if not events:
        add(EventKind.EDITED)
    return events


def _with_note(changed: Task, before: Task, actor: Actor, note: str | None, now: datetime) -> Task:
    """A reassignment's note, as the actor's comment in the same change."""
    if not note or changed is before:
        return changed
    comment = Comment(author=actor.user_id, text=note.strip()[:COMMENT_MAX], created_at=now)
    return changed.model_copy(update={"comments": (*changed.comments, comment)})
