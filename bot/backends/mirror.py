"""What every external task system's backend shares: tasks mirrored in taskbot's own store.

The task systems lack some of DESIGN.md's rules (per-assignee parts, MUST_ALL, handles, the Slack
assignor, sometimes groups or comments), so taskbot keeps each task's full domain record in its
store (``storage.local_tasks``, id ``<prefix><external id>``) and drives the system to the same end
state. A subclass says how to create, change, delete and fetch in its system; this class keeps the
order that never stores what the system refused, and the two-way sync (``pull``). Imports the
domain and ``storage`` only.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

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
    Due,
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


class MirroredBackend(ABC):
    name: str
    capabilities: BackendCapabilities
    prefix: str
    batch_size = 100

    def __init__(self, store: SqlAlchemyTaskStore, links: SqlAlchemyUserMap) -> None:
        self._store = store
        self._links = links
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
        try:
            task = self._store.create(draft, now, task_id=f"{self.prefix}{external}", effect=effect)
        except Exception:  # keep the systems in step: undo it there, then report
            try:
                self._push_delete(external)
            except Exception:
                log.exception(
                    "%s task %s is orphaned: taskbot could not store it", self.name, external
                )
            raise
        return self._created(task, now)

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
        """Changes made in the system's own UI, already stored.

        A field counts as changed there when it differs from what taskbot last wrote, so a change
        made in Slack (written there first) is never undone by an older copy. A task gone there
        is marked deleted here (its cards say so)."""
        changed: builtins.list[Pulled] = []
        rows = self._store.mirrored(self.prefix)
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            tasks = self._load(chunk)
            for task, remote in self._fetch_each(tasks):
                try:
                    after = self._apply(task, remote, now)
                except DomainError as exc:  # refused (a bound): this task waits, the others sync
                    log.warning(
                        "%s sync of %s %s refused: %s",
                        self.name,
                        task.team_id,
                        task.handle,
                        exc.message,
                    )
                    continue
                except Exception:  # one task's failure never stops the others' sync
                    log.exception("%s sync of %s %s failed", self.name, task.team_id, task.handle)
                    continue
                if after is not None:
                    changed.append(after)
        return changed

    def _load(self, chunk: Sequence[Row]) -> builtins.list[Task]:
        tasks: builtins.list[Task] = []
        for team, handle, _ in chunk:
            try:
                tasks.append(self._store.get(team, handle))
            except Exception:  # unreadable here: skip it, the others sync
                log.exception("%s sync could not load %s %s", self.name, team, handle)
        return tasks

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
