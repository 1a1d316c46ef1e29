"""What every external task system's backend shares: tasks mirrored in taskbot's own store.

The task systems lack some of DESIGN.md's rules (per-assignee parts, MUST_ALL, handles, the Slack
assignor, sometimes groups or comments), so taskbot keeps each task's full domain record in its
store (``storage.local_tasks``, id ``<prefix><external id>``) and drives the system to the same end
state. A subclass says how to create, change, delete and fetch in its system; this class keeps the
order that never stores what the system refused, and the two-way sync (``pull``). Imports the
domain and ``storage`` only.

A pass (``pull``) first reads what the system's list offers (``_listing``: Struct's paged walk,
Paymo's filtered list from a high-water mark; none elsewhere), compares each listed task taskbot
mirrors with its copy, and takes in the open ones assigned to linked people that it lacks
(``Pulled(before=None)``: the service sends their cards and plans their reminders). Mirrored
tasks the list did not cover are read by id (``_fetch``, ``batch_size`` at a time), at most
``check_per_pass`` of them a pass, taking turns from a cursor kept in ``sync_marks``, so a pass
stays within the system's rate limit however many tasks there are. A task made from Slack while
the pass reads the list is normally stored before the pass looks; if the pass takes it in first,
the create claims it (``_claim``) instead of undoing it there. If two processes take in the same
task at once, the second finds it stored and skips it.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.backends.http import ApiClient
from bot.domain import rules
from bot.domain.errors import (
    AlreadyApplied,
    BackendUnavailable,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
)
from bot.domain.events import Effect, Notice, told_of_pull
from bot.domain.models import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    TITLE_MAX,
    Actor,
    Assignee,
    AssigneeKind,
    Attachment,
    AttachmentKind,
    BackendCapabilities,
    Comment,
    CompletionCondition,
    Due,
    Part,
    Status,
    Task,
    TaskDraft,
    TaskQuery,
)
from bot.domain.naming import Naming
from bot.service.ports import Pulled
from storage.comment_links import CommentLink, PulledComments, SqlAlchemyCommentLinks
from storage.local_tasks import SqlAlchemyTaskStore
from storage.user_map import SqlAlchemyUserMap

log = logging.getLogger(__name__)

Row = tuple[str, str, str]  # team, handle, task id
SLACK_SIGNATURE = re.compile(r"\n— [^\n]* in Slack\s*$")  # how taskbot signs what it writes
LinkIndex = dict[
    tuple[AssigneeKind, str], list[tuple[str, str]]
]  # (kind, their id) → (team, Slack id)

NO_ASSIGNOR = "USLACKBOT"
"""The assignor of a task taken in whose creator isn't linked: nobody in Slack, so admins manage
it (its assignees still do their parts)."""
INTAKE_LOOKBACK = timedelta(hours=1)
"""How far back the first pass takes tasks in: older ones were there before taskbot synced."""
MARK_MARGIN = timedelta(seconds=30)
"""Each pass re-reads this much before its high-water mark (late commits, clock skew); what it
reads again is compared and changes nothing."""
CHECK_MARK = "check"  # the sync mark of the rotating check by id
CHANGES_MARK = "changes"  # the high-water mark of the changes read
INTAKE_MARK = "intake"  # when intake began (systems whose list has no change date)


class SyncMarks(Protocol):
    """Where a system's sync got to, kept across passes and processes (``storage.sync_marks``)."""

    def get(self, backend: str, name: str) -> str | None: ...

    def set(self, backend: str, name: str, value: str, at: datetime) -> None: ...


class MemoryMarks:
    """Marks held by one backend object (a backend built without the database, in tests)."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], str] = {}

    def get(self, backend: str, name: str) -> str | None:
        return self._values.get((backend, name))

    def set(self, backend: str, name: str, value: str, at: datetime) -> None:
        self._values[(backend, name)] = value


@dataclass(frozen=True)
class Listing:
    """What one pass read from the system's list: its tasks by external id, as listed, and the
    moment (system time) from which a task new to taskbot is taken in (None: any)."""

    found: dict[str, dict[str, Any]]
    made_since: datetime | None = None


@dataclass(frozen=True)
class Incoming:
    """A task listed by the system, as taskbot would take it in (ids are the system's)."""

    external_id: str
    title: str
    description: str
    due: Due | None
    status: Status
    users: tuple[str, ...]
    groups: tuple[str, ...] = ()
    creator: str | None = None
    made_at: datetime | None = None
    entities: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class RemoteComment:
    """A comment as the task system holds it: ``text`` plain (its markup read), ``author`` the
    system's user id when it says who wrote it, ``fingerprint`` of its text as sent or read
    (``fingerprint``), so an edit made there is noticed."""

    external_id: str
    text: str
    fingerprint: str
    author: str | None = None
    created_at: datetime | None = None


def fingerprint(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True)
class RemoteState:
    """The fields a task system holds that taskbot keeps in step with."""

    title: str
    description: str
    due: Due | None
    complete: bool
    entities: tuple[Attachment, ...] | None = None  # None: the system has no attached entities
    assignees: tuple[Assignee, ...] | None = None  # None: assignees only change from Slack
    # Who made a change there, in the system's own user ids, where its API says (Paymo's
    # ``completed_by``, Maxsight's ``assignment.assigned_by_id``); None: it doesn't say.
    completed_by: str | None = None
    assigned_by: str | None = None
    # None: comments not read this time; else every comment people wrote there on the task
    comments: tuple[RemoteComment, ...] | None = None


def intake_effect(task_id: str, system: str, by: str | None) -> Effect:
    """A task taken in from ``system`` is stored with the job that sends its cards (the
    outbox), so a crash right after the intake can't lose them: the next pass finds the task
    already there and would tell nobody."""
    return Effect(
        key=f"sync:{task_id}:1",
        notice=lambda saved: Notice(events=told_of_pull(None, saved, system, by)).model_dump_json(),
    )


class MirroredBackend(ABC):
    name: str
    capabilities: BackendCapabilities
    prefix: str
    batch_size = 100
    check_per_pass: int | None = None  # tasks read by id per pass; None: all of them

    def __init__(
        self,
        store: SqlAlchemyTaskStore,
        links: SqlAlchemyUserMap,
        marks: SyncMarks | None = None,
    ) -> None:
        self._store = store
        self._links = links
        self._marks: SyncMarks = marks if marks is not None else MemoryMarks()
        self._seen: dict[str, tuple[str, int]] = {}  # task id → (listed record's digest, version)
        self._api_clients: tuple[ApiClient, ...] = ()  # closed with the backend
        self._comment_links = SqlAlchemyCommentLinks(store.sessions)
        self._batch_links = threading.local()  # a pass's batch of comment links, per thread

    def close(self) -> None:
        """Release the HTTP connections to the task system (the app closes its backend)."""
        for client in self._api_clients:
            client.close()

    # --- what a task system does --------------------------------------------------------------

    @abstractmethod
    def _push_new(self, draft: TaskDraft) -> str:
        """Create the task there; its id."""

    @abstractmethod
    def _push_change(self, before: Task, after: Task) -> None:
        """Bring the system's copy from ``before`` to ``after``."""

    @abstractmethod
    def _push_delete(self, external_id: str) -> None: ...

    @abstractmethod
    def _fetch(self, external_ids: Sequence[str], tasks: Sequence[Task]) -> dict[str, RemoteState]:
        """The current state of these tasks there; missing ones were deleted there."""

    # --- the TaskBackend port ------------------------------------------------------------------

    def create(self, draft: TaskDraft, now: datetime) -> Task:
        return self._create(draft, now, None)

    def create_once(self, draft: TaskDraft, now: datetime, effect: Effect) -> Task:
        """A replay finds the task its key made and pushes nothing. (A crash between the push
        and the store still leaves one task there that taskbot doesn't know: the system's
        create takes no key of ours.)"""
        made = self._store.created(effect.key)
        if made is not None:
            raise AlreadyApplied(f"{made.handle} was created already.", current=made)
        return self._create(draft, now, effect)

    def _create(self, draft: TaskDraft, now: datetime, effect: Effect | None) -> Task:
        external = self._push_new(draft)
        task_id = f"{self.prefix}{external}"
        try:
            task = self._store.create(draft, now, task_id=task_id, effect=effect)
        except Exception as exc:  # keep the systems in step: undo it there, then report
            taken = None if isinstance(exc, DomainError) else self._store.find(task_id)
            if taken is not None and taken.team_id == draft.team_id:
                return self._created(self._claim(taken, draft, now, effect), now)
            if taken is not None:
                raise
            try:
                self._push_delete(external)
            except Exception:
                log.exception(
                    "%s task %s is orphaned: taskbot could not store it", self.name, external
                )
            raise
        return self._created(task, now)

    def _claim(self, taken: Task, draft: TaskDraft, now: datetime, effect: Effect | None) -> Task:
        """A sync pass took the task in between its push and its store (it read the system's
        list at that moment): it is this create's task, so the draft's record replaces the one
        the pass guessed (assignor, condition, channel), under the handle it was given."""
        made = rules.new_task(draft, task_id=taken.id, handle=taken.handle, now=now)
        return self._store.save(
            made.model_copy(update={"version": taken.version + 1}), taken.version, effect=effect
        )

    def _created(self, task: Task, now: datetime) -> Task:
        """What a system adds to a task it just made (a note); nothing by default."""
        return task

    def get(self, team_id: str, handle: str) -> Task:
        return self._store.get(team_id, handle)

    def save(self, task: Task, expected_version: int) -> Task:
        return self._save(task, expected_version, None)

    def save_once(self, task: Task, expected_version: int, effect: Effect) -> Task:
        if self._store.applied(effect):  # a replay: the system has it already
            current = self._store.get(task.team_id, task.handle)
            raise AlreadyApplied(f"{task.handle}: already done.", current=current)
        return self._save(task, expected_version, effect)

    def _save(self, task: Task, expected_version: int, effect: Effect | None) -> Task:
        """Drive the system to the task's state, then store it; nothing stored it refused."""
        current = self._store.get(task.team_id, task.handle)
        if current.version != expected_version:
            raise Conflict(f"{task.handle} changed since you last saw it.", current=current)
        self._push_change(current, task)
        return self._store.save(task, expected_version, effect=effect)

    def delete(self, team_id: str, handle: str, expected_version: int) -> None:
        task = self._store.get(team_id, handle)
        if task.version != expected_version:
            raise Conflict(f"{handle} changed since you last saw it.", current=task)
        try:
            self._push_delete(self.external_id(task))
        except NotFound:
            pass  # already gone there: forget it here too
        self._store.delete(team_id, handle, expected_version, datetime.now().astimezone())

    def list(self, query: TaskQuery) -> builtins.list[Task]:
        return self._store.list(query)

    # --- two-way sync ----------------------------------------------------------------------

    def pull(self, now: datetime) -> Sequence[Pulled]:
        """Changes made in the system's own UI, already stored, and the tasks taken in from it.

        A field counts as changed there when it differs from what taskbot last wrote, so a change
        made in Slack (written there first) is never undone by an older copy, and taskbot's own
        writes read back change nothing. A task gone there is marked deleted here (its cards say
        so). Where the system has a list (``_listing``), what it returned is compared at once and
        those tasks are not read again; the others are read by id (``_fetch``), at most
        ``check_per_pass`` of them a pass, taking turns (``_to_check``)."""
        rows = self._store.mirrored(self.prefix)  # first: a task made meanwhile isn't "missing"
        pulled: builtins.list[Pulled] = []
        listing = self._listing(now)
        covered: set[str] = set()
        if listing is not None:
            covered, failed = self._take_listing(rows, listing, now, pulled)
            self._listed(listing, failed, now)
        rest = [row for row in rows if row[2].removeprefix(self.prefix) not in covered]
        for chunk in self._batches(self._to_check(rest, now)):
            for task, remote in self._fetch_each(self._load(chunk)):
                pulled.extend(self._pull_one(task, remote, now) or [])
        return pulled

    def _take_listing(
        self, rows: Sequence[Row], listing: Listing, now: datetime, pulled: builtins.list[Pulled]
    ) -> tuple[set[str], set[str]]:
        """Compare the listed tasks taskbot mirrors, take in the new ones; (the ids compared,
        the ids whose pass failed: the mark must not pass them)."""
        mine = {row[2]: row for row in rows}
        listed = [self.prefix + external for external in listing.found]
        versions = self._store.versions([i for i in listed if i in mine])
        digests = {external: _digest(raw) for external, raw in listing.found.items()}
        unseen = [
            i
            for i, v in versions.items()
            if self._seen.get(i) != (digests[i.removeprefix(self.prefix)], v)
        ]
        tasks = {t.id: t for t in self._store.load_many(unseen)}
        self._read_links(builtins.list(tasks.values()))  # their comment links, in one query
        covered = {i.removeprefix(self.prefix) for i in versions}
        failed: set[str] = set()
        people: LinkIndex | None = None
        for external, raw in listing.found.items():
            task_id = self.prefix + external
            task = tasks.get(task_id)
            if task is not None:
                try:
                    remote = self._listed_state(raw, task)
                except Exception:  # an unreadable record: the task waits, the others sync
                    log.exception(
                        "%s sync could not read %s %s", self.name, task.team_id, task.handle
                    )
                    failed.add(external)
                    continue
                found = self._pull_one(task, remote, now)
                if found is None:
                    failed.add(external)
                    continue
                pulled.extend(found)
                version = found[-1].after.version if found else task.version
                self._seen[task_id] = (digests[external], version)
                continue
            if task_id in mine:
                continue  # seen unchanged (or unreadable here: the check by id reads it)
            people = people if people is not None else self._link_index()
            try:
                taken = self._take_in(raw, people, listing, now)
            except Exception:
                log.exception("%s intake of %s failed", self.name, external)
                failed.add(external)
                continue
            if taken is not None:
                pulled.append(taken)
        return covered, failed

    def _pull_one(
        self, task: Task, remote: RemoteState | None, now: datetime
    ) -> builtins.list[Pulled] | None:
        """The change found, if any; None when the pass failed on this task (it is retried)."""
        try:
            pulled = self._apply(task, remote, now)
        except DomainError as exc:  # refused (a bound): this task waits, the others sync
            log.warning(
                "%s sync of %s %s refused: %s", self.name, task.team_id, task.handle, exc.message
            )
            return []
        except Exception:  # one task's failure never stops the others' sync
            log.exception("%s sync of %s %s failed", self.name, task.team_id, task.handle)
            return None
        return [pulled] if pulled is not None else []

    def _batches(self, rows: Sequence[Row]) -> Iterable[Sequence[Row]]:
        for start in range(0, len(rows), self.batch_size):
            yield rows[start : start + self.batch_size]

    def _to_check(self, rows: Sequence[Row], now: datetime) -> Sequence[Row]:
        """The mirrored tasks this pass reads by id: all of them, or ``check_per_pass`` taking
        turns in id order from where the last pass stopped (kept in the sync marks), so that a
        pass stays within the system's rate limit however many tasks there are."""
        limit = self.check_per_pass
        if limit is None or len(rows) <= limit:
            return rows
        ordered = sorted(rows, key=lambda row: row[2])
        after = self._marks.get(self.name, CHECK_MARK) or ""
        start = next((i for i, row in enumerate(ordered) if row[2] > after), 0)
        turn = (ordered[start:] + ordered[:start])[:limit]
        self._marks.set(self.name, CHECK_MARK, turn[-1][2], now)
        return turn

    def _load(self, chunk: Sequence[Row]) -> builtins.list[Task]:
        try:
            return self._store.load_many([task_id for _, _, task_id in chunk])
        except Exception:  # unreadable here: skip them, the others sync
            log.exception("%s sync could not load %d tasks", self.name, len(chunk))
            return []

    def _fetch_each(self, tasks: Sequence[Task]) -> builtins.list[tuple[Task, RemoteState | None]]:
        """Each task with its remote state; when a batch read fails on one task's data, each
        task is read alone, so that task alone is skipped. A system that is down (or refuses
        taskbot) ends the pass: the next one retries."""
        try:
            remote = self._fetch([self.external_id(t) for t in tasks], tasks)
            return [(t, remote.get(self.external_id(t))) for t in tasks]
        except BackendUnavailable:
            raise
        except Exception:
            if len(tasks) == 1:
                log.exception(
                    "%s sync could not read %s %s", self.name, tasks[0].team_id, tasks[0].handle
                )
                return []
        return [pair for task in tasks for pair in self._fetch_each([task])]

    # --- intake: tasks made in the system -------------------------------------------------------

    def _listing(self, now: datetime) -> Listing | None:
        """What the system's list says changed (or holds); None: it has no list to use."""
        return None

    def _listed_state(self, raw: dict[str, Any], task: Task) -> RemoteState:
        """The remote state of a mirrored task, from its listed record."""
        raise NotImplementedError

    def _incoming(self, raw: dict[str, Any]) -> Incoming | None:
        """A listed task as taskbot would take it in; None when it never would (completed)."""
        return None

    def _listed(self, listing: Listing, failed: set[str], now: datetime) -> None:  # noqa: B027
        """The listing was applied (but ``failed``): move the high-water mark past it."""

    def _link_index(self) -> LinkIndex:
        """Every link of this system, by (kind, the system's id): who is who, in which team."""
        index: LinkIndex = {}
        for link in self._links.list_all():
            if link.backend == self.name:
                index.setdefault((link.kind, link.assignee_id), []).append(
                    (link.team_id, link.slack_id)
                )
        return index

    def _take_in(
        self, raw: dict[str, Any], people: LinkIndex, listing: Listing, now: datetime
    ) -> Pulled | None:
        """Store a task made in the system, if it is open, made (or changed) since intake began,
        and assigned to someone linked: in the workspace of its first linked assignee (by team
        id), with the assignees linked there, the linked creator as assignor (else
        ``NO_ASSIGNOR``: admins manage it) and author."""
        incoming = self._incoming(raw)
        if incoming is None or (
            incoming.made_at is not None
            and listing.made_since is not None
            and incoming.made_at < listing.made_since
        ):
            return None
        wanted = [(AssigneeKind.USER, i) for i in incoming.users] + [
            (AssigneeKind.GROUP, i) for i in incoming.groups
        ]
        teams = sorted({team for key in wanted for team, _ in people.get(key, [])})
        if not teams:
            return None  # nobody taskbot knows: not its task
        team = teams[0]
        assignees = rules.unique_assignees(
            Assignee(kind=kind, id=slack)
            for kind, their in wanted
            for linked_team, slack in people.get((kind, their), [])
            if linked_team == team
        )
        creator = next(
            (
                slack
                for linked_team, slack in people.get(
                    (AssigneeKind.USER, incoming.creator or ""), []
                )
                if linked_team == team
            ),
            None,
        )
        if incoming.due is not None and incoming.due.date > rules.latest_due_date(now):
            log.warning(
                "%s task %s not taken in: due too far ahead", self.name, incoming.external_id
            )
            return None
        task_id = self.prefix + incoming.external_id
        if self._store.load(task_id) is not None:
            return None  # taken in (or made from Slack, or deleted here) meanwhile

        def build(handle: str) -> Task:
            return Task(
                team_id=team,
                id=task_id,
                handle=handle,
                title=rules.clip(incoming.title.strip(), TITLE_MAX)
                or incoming.external_id[:TITLE_MAX],
                description=rules.clip(incoming.description, DESCRIPTION_MAX),
                due=incoming.due,
                condition=CompletionCondition.ANY_ONE,
                status=incoming.status,
                assignor=creator or NO_ASSIGNOR,
                parts=tuple(Part(assignee=a) for a in assignees),
                attachments=tuple(rules.bounded_attachment(a) for a in incoming.entities),
                created_at=now,
                updated_at=now,
                version=1,
            )

        effect = intake_effect(task_id, self.capabilities.label, creator)
        try:
            task = self._store.adopt(team, task_id, build, effect=effect)
        except Exception:
            if self._store.load(task_id) is not None:
                return None  # another process took it in first
            raise
        log.info("%s task %s taken in as %s %s", self.name, incoming.external_id, team, task.handle)
        return Pulled(after=task, before=None, by=creator, notice=effect.notice_key)

    def _apply(self, task: Task, remote: RemoteState | None, now: datetime) -> Pulled | None:
        """Store the system's state of ``task`` as a change made there (never as its
        assignor's): system comments say where, and who when the system names a linked user."""
        if remote is None:  # deleted there
            self._store.delete(task.team_id, task.handle, task.version, now)
            gone = task.model_copy(update={"deleted": True, "version": task.version + 1})
            return Pulled(after=gone, before=task)
        if remote.due is not None and remote.due.date > rules.latest_due_date(now):
            raise InvalidInput({"due": f"its due date {remote.due.date} is too far ahead"})
        updates: dict[str, object] = {}
        title = rules.clip(remote.title.strip(), TITLE_MAX)
        description = rules.clip(remote.description, DESCRIPTION_MAX)
        if title and title != task.title:
            updates["title"] = title
        if description != task.description:
            updates["description"] = description
        if not same_due(remote.due, task.due):
            updates["due"] = remote.due
        if remote.entities is not None:
            entities = tuple(rules.bounded_attachment(a) for a in remote.entities)
            mine = tuple(a for a in task.attachments if a.kind is AttachmentKind.ENTITY)
            if entities != mine:
                others = tuple(a for a in task.attachments if a.kind is not AttachmentKind.ENTITY)
                updates["attachments"] = others + entities
        comments = self._pulled_comments(task, remote.comments, now)
        if comments is not None and comments[0] != task.comments:
            updates["comments"] = comments[0]
        after = task
        if updates:
            after = after.model_copy(
                update={**updates, "updated_at": now, "version": after.version + 1}
            )
        authors: set[str | None] = set()  # who made each told part of the change, if known
        if remote.assignees is not None and set(remote.assignees) != set(after.assignees):
            by = self.slack_user(task.team_id, remote.assigned_by)
            after = rules.reassign(after, made_there(task, by), remote.assignees, now)
            authors.add(by)
        if remote.complete != after.is_completed:
            by = self.slack_user(task.team_id, remote.completed_by)
            change = rules.complete_task if remote.complete else rules.reopen
            after = change(after, made_there(task, by), now)
            authors.add(by)
        links = comments[1] if comments is not None else None
        if after is task:
            if links:  # links alone (an own comment read back the first time)
                self._comment_links.write(links)
            return None
        label = self.capabilities.label
        after = rules.made_in(task, after, label)
        author = authors.pop() if len(authors) == 1 else None
        effect = Effect(  # its notifications are stored with it, once per task version
            key=f"sync:{task.id}:{after.version}",
            notice=lambda saved: Notice(
                events=told_of_pull(task, saved, label, author)
            ).model_dump_json(),
        )
        try:
            saved = self._store.save(
                after, task.version, effect=effect, also=links.write if links else None
            )
        except Conflict:  # changed in Slack meanwhile: Slack wins; the next pull re-checks
            return None
        return Pulled(after=saved, before=task, by=author, notice=effect.notice_key)

    def slack_user(self, team_id: str, their_id: str | None) -> str | None:
        """The Slack user linked to the system's user id, if the system named one."""
        if not their_id:
            return None
        link = self._links.by_assignee(team_id, self.name, AssigneeKind.USER, their_id)
        return link.slack_id if link is not None else None

    # --- comments both ways ---------------------------------------------------------------------

    def _pulled_comments(
        self, task: Task, remote: Sequence[RemoteComment] | None, now: datetime
    ) -> tuple[tuple[Comment, ...], PulledComments] | None:
        """The task's comments after what people wrote, edited and deleted there, and the link
        changes that go with them; None when the system's comments were not read."""
        if remote is None or (not remote and not any(not c.system for c in task.comments)):
            return None  # nothing there, nothing of people's here: no need to read the links
        batch: dict[str, dict[str, CommentLink]] = getattr(self._batch_links, "links", {})
        known = batch.pop(task.id, None)  # used once: never by a later pass
        links = known if known is not None else self._comment_links.for_task(self.name, task.id)
        changes = PulledComments(self.name, task.team_id, task.id)
        comments = list(task.comments)
        where = {c.id: i for i, c in enumerate(comments)}
        for found in remote:
            link = links.pop(found.external_id, None)
            text = rules.clip(found.text.strip(), COMMENT_MAX)
            if link is None:
                own = self._own_remote(task, found)
                if own is not None:  # taskbot wrote it (before it kept links): never told back
                    changes.added.append(_link(found, own.id, own=True))
                elif text:  # written there (a comment with files only has no text to tell)
                    comment = Comment(
                        author=self.slack_user(task.team_id, found.author),
                        text=text,
                        created_at=found.created_at or now,
                    )
                    comments.append(comment)
                    changes.added.append(_link(found, comment.id, own=False))
            elif link.fingerprint != found.fingerprint:  # edited there
                if link.own:  # the words without the "— @ana in Slack" taskbot signed them with
                    text = SLACK_SIGNATURE.sub("", text).strip() or text
                edited = link.model_copy(update={"fingerprint": found.fingerprint})
                at = where.get(link.comment_id)
                if at is not None and text and not comments[at].system:
                    comments[at] = comments[at].model_copy(update={"text": text})
                    changes.edited.append((edited, text))
                else:  # taskbot's event records keep their own words
                    changes.edited.append((edited, None))
        for link in links.values():  # linked, and no longer there: deleted there
            comments = [c for c in comments if c.id != link.comment_id or c.system]
            changes.removed.append(link)
        return tuple(comments), changes

    def _read_links(self, tasks: Sequence[Task]) -> None:
        """The comment links of a batch just read, in one query (a subclass's ``_fetch`` calls
        it when it read comments), so a pass pays one query per batch, not one per task."""
        self._batch_links.links = self._comment_links.for_tasks(self.name, [t.id for t in tasks])

    def _own_remote(self, task: Task, found: RemoteComment) -> Comment | None:
        """The task's comment that taskbot wrote as ``found``, recognised without a link (one
        written before links were kept); None by default."""
        return None

    def remember_comment(self, task: Task, comment: Comment, external_id: str, sent: str) -> None:
        """A comment taskbot wrote there (``sent``: its text as the system holds it)."""
        link = CommentLink(
            external_id=external_id, comment_id=comment.id, fingerprint=fingerprint(sent), own=True
        )
        self._comment_links.record_own(self.name, task.team_id, task.id, link)

    # --- helpers -------------------------------------------------------------------------------

    def slack_assignees(
        self, team_id: str, remote: Iterable[tuple[AssigneeKind, str]]
    ) -> tuple[Assignee, ...] | None:
        """The Slack assignees for the system's own user and group ids; None when one of them is
        someone taskbot can't name (then the assignees are left as they are)."""
        found: builtins.list[Assignee] = []
        for kind, ident in remote:
            link = self._links.by_assignee(team_id, self.name, kind, ident)
            if link is None:
                return None
            found.append(Assignee(kind=kind, id=link.slack_id))
        return tuple(found)

    def external_id(self, task: Task) -> str:
        return task.id.removeprefix(self.prefix)

    def linked(
        self, team_id: str, assignees: Iterable[Assignee], kind: AssigneeKind
    ) -> builtins.list[str]:
        """The system's ids of these assignees of one kind; every one must be linked."""
        ids: builtins.list[str] = []
        missing: builtins.list[Assignee] = []
        for assignee in assignees:
            if assignee.kind is not kind:
                continue
            link = self._links.get(team_id, self.name, assignee.id)
            if link is None:
                missing.append(assignee)
            else:
                ids.append(link.assignee_id)
        if missing:
            naming = Naming()
            raise InvalidInput(
                {"assignees": f"{naming(missing)} not linked to {self.name}; see `/task link`."},
                refs=naming.refs,
            )
        return ids


def made_there(task: Task, by: str | None) -> Actor:
    """Who a change pulled from the task system is recorded as made by: the system's own
    authority (it was made there), named as the linked person when the system said who, else
    nobody (never the assignor, who did nothing)."""
    return Actor(team_id=task.team_id, user_id=by or "", is_admin=True)


def _digest(raw: dict[str, Any]) -> str:
    """A listed record's fingerprint: the same record, compared with the same stored version,
    can't hold a change (a memo of one process, never needed for being right: a process that
    lacks it compares the task in full)."""
    return hashlib.blake2b(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


def _link(found: RemoteComment, comment_id: str, *, own: bool) -> CommentLink:
    return CommentLink(
        external_id=found.external_id,
        comment_id=comment_id,
        fingerprint=found.fingerprint,
        own=own,
    )


def same_due(a: Due | None, b: Due | None) -> bool:
    if a is None or b is None:
        return a is b
    if a.has_time and b.has_time:
        return a.instant() == b.instant()
    return a.date == b.date and a.has_time == b.has_time
