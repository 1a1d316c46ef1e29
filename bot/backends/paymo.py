"""Paymo (``TASK_BACKEND=paymo``): tasks in Paymo, driven from Slack.

Contract: seed 004 (task assignments) and ../shared/API-NOTES.md §4. Paymo has one task with a
list of assignees (``users``, integer ids), a date-only ``due_date`` and a ``complete`` flag; it has
no per-assignee parts, no MUST_ALL, no groups and no versions. So, as DESIGN.md says, taskbot keeps
each task's full domain record (handle, parts, condition, assignor, comments) in its own store
(``storage.local_tasks``, task id ``paymo-<id>``) and drives Paymo to the matching end state:
name, description, due date, the assignees' user ids, and ``complete: true`` exactly when the
domain rules complete the task (``false`` when it is reopened).

Safe readings where the docs are silent (say so in the README's capability table):
- Error bodies: the JSON shape is not documented; ``message`` is read (as third-party clients do),
  else the raw text.
- Rate limit: ``X-Ratelimit-Remaining: 0`` makes the client wait ``X-Ratelimit-Decay-Period``
  before its next call; 429 waits ``Retry-After``.
- People's comments are added to the task's Paymo thread (``POST /api/comments`` with
  ``task_id``), escaped as HTML; taskbot's event comments are not (Paymo shows the events itself).
  The created comment's ``id`` (201 answer) is remembered (``storage.comment_links``), so it is
  never told back in Slack.
- Comments written in Paymo reach the card's thread, as written by the Slack user linked to the
  comment's ``user_id`` ("someone in Paymo" otherwise); their HTML ``content`` is read as plain
  text. An edit there (its ``content`` changed) updates the thread message; a comment gone from
  its thread deletes it. The docs list a task's comments with
  ``GET /api/threads?where=task_id=X&include=comments`` and allow ``in (…)`` in any ``where``
  (sections/comments.md, filtering.md); no paging and no per-comment change filter that also
  shows deletions is documented. So the safe reading is one
  ``GET /api/threads?where=task_id in (…)&include=comments`` per batch of tasks a pass reads
  (``batch_size``, 100): the tasks the filtered list returned, and those read by id in their
  turn (below), so a comment added to an otherwise unchanged task is read within
  ``ceil(n / check_per_pass)`` passes.
  A thread read that fails leaves that batch's comments unread (nothing taken as deleted).
- Assignees are set with ``users`` on create, then changed through ``/api/userstasks``. Sync
  reads them back from ``users``; an empty list means "anyone on the project" there, which
  taskbot doesn't read as everyone unassigned (the assignees stay).
- Who completed a task is ``completed_by`` (the key owner's id when taskbot completed it): a
  completion made in Paymo is told as that linked person's, else as made in Paymo.
- Users by email: ``GET /api/users?where=active=true``, matched case-insensitively; active users
  have unique emails per the docs, so more than one match is treated as none.
- Deleting a task in Paymo also deletes its time entries: the Slack confirmation says so.

Sync and intake (every ``BACKEND_SYNC_SECONDS``, ``bot.backends.mirror``). What the API allows:
filtered lists (``GET /api/tasks?where=…``: ``users in (…)``, ``updated_on>`` taking a Unix
timestamp, joined with ``and``), no paging (a maintainer advises against pulling thousands of
tasks at once), no list of deletions, and 5 calls per 5 s (a third-party figure). The safe
reading chosen (from 100 calls of ``id in (…)`` a pass for 10,000 tasks, which can't fit in a
minute at 1 call/s, down to about 22 with comment threads):
- One filtered list a pass (per 100 linked people): ``users in (<linked ids>) and
  updated_on><mark − MARK_MARGIN>``. The mark is the newest ``updated_on`` read (Paymo's clock,
  not ours; the margin re-reads late commits), kept in ``sync_marks`` across passes and
  processes, and held before any task whose pass failed; the first pass starts
  ``INTAKE_LOOKBACK`` ago. Listed tasks taskbot mirrors are compared at once (taskbot's own
  writes read back change nothing); open ones it doesn't have, assigned to a linked person, are
  taken in (their creator, ``user_id``, as assignor and author when linked).
- Deletions (and changes to a task no linked person is assigned to any more) are found by
  reading mirrored tasks by id, ``check_per_pass`` (1,000: 10 calls, 10 more for their threads)
  a pass, taking turns: every task is read within ``ceil(n / 1000)`` passes.
- Assignees taskbot can't name (not linked) stay assigned when taskbot changes the assignees.
"""

from __future__ import annotations

import builtins
import html
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any

import httpx

from bot.backends.http import ApiClient
from bot.backends.mirror import (
    CHANGES_MARK,
    INTAKE_LOOKBACK,
    MARK_MARGIN,
    Incoming,
    Listing,
    MirroredBackend,
    RemoteComment,
    RemoteState,
    SyncMarks,
    fingerprint,
)
from bot.domain.errors import BackendUnavailable, DomainError, InvalidInput
from bot.domain.models import (
    Assignee,
    AssigneeKind,
    BackendCapabilities,
    Comment,
    Due,
    Status,
    Task,
    TaskDraft,
)
from bot.domain.rules import added_comments
from storage.local_tasks import SqlAlchemyTaskStore
from storage.user_map import SqlAlchemyUserMap

log = logging.getLogger(__name__)

NAME = "paymo"
ID_PREFIX = "paymo-"
DEFAULT_URL = "https://app.paymoapp.com/api/"


def _detail(response: httpx.Response) -> str | None:
    body = response.json()
    return str(body.get("message")) if isinstance(body, dict) and body.get("message") else None


def client(url: str, api_key: str, **options: object) -> ApiClient:
    """API key as the Basic-auth user, any password (Paymo's docs)."""
    return ApiClient(
        "Paymo",
        url,
        auth=(api_key, "X"),
        headers={"Accept": "application/json"},
        detail=_detail,
        key_hint="PAYMO_API_KEY",
        **options,  # type: ignore[arg-type]
    )


def _content(comment: Comment) -> str:
    """Paymo comments are HTML; say who wrote it in Slack (the key's owner posts it)."""
    author = html.escape(f"@{comment.author}" if comment.author else "someone")
    return f"{html.escape(comment.text)}<br>— {author} in Slack"


USERS_PER_LIST = 100  # user ids per ``users in (…)``: keeps the URL short
THREAD = "taskbot:thread"  # a listed task's comments, read with it (part of its fingerprint)


def _unix(text: object) -> int | None:
    """Paymo's UTC ``2024-01-17T18:23:02Z`` as Unix seconds (its filters' unit)."""
    try:
        return int(datetime.fromisoformat(str(text)).timestamp()) if text else None
    except ValueError:
        return None


class _PlainText(HTMLParser):
    """Paymo's comment ``content`` is HTML: its text, line breaks kept."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: builtins.list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "div", "li"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(content: str) -> str:
    parser = _PlainText()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts).strip()


def _remote_comment(raw: dict[str, object]) -> RemoteComment:
    content = str(raw.get("content") or "")
    author, created = raw.get("user_id"), raw.get("created_on")
    try:
        moment = datetime.fromisoformat(str(created)) if created else None
    except ValueError:
        moment = None
    return RemoteComment(
        external_id=str(raw.get("id")),
        text=plain_text(content),
        fingerprint=fingerprint(content),
        author=str(author) if author is not None else None,
        created_at=moment.replace(tzinfo=UTC) if moment and not moment.tzinfo else moment,
    )


def _remote_state(
    raw: dict[str, object],
    task: Task,
    comments: tuple[RemoteComment, ...] | None = None,
    assignees: tuple[Assignee, ...] | None = None,
) -> RemoteState:
    due = raw.get("due_date")
    tz = task.due.tz if task.due else "UTC"
    completed_by = raw.get("completed_by")
    return RemoteState(
        title=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        due=Due(date=date.fromisoformat(str(due)[:10]), tz=tz) if due else None,
        complete=bool(raw.get("complete")),
        assignees=assignees,
        completed_by=str(completed_by) if raw.get("complete") and completed_by else None,
        comments=comments,
    )


def _users(raw: dict[str, object]) -> list[tuple[AssigneeKind, str]] | None:
    """A task's assignees in Paymo; None for none ("anyone on the project"), which taskbot
    doesn't take as everyone being unassigned."""
    users = raw.get("users")
    if not isinstance(users, list) or not users:
        return None
    return [(AssigneeKind.USER, str(u)) for u in users]


class PaymoBackend(MirroredBackend):
    name = NAME
    prefix = ID_PREFIX
    check_per_pass = 1000  # 10 reads by id a pass (the changes come from the filtered list)
    capabilities = BackendCapabilities(
        multi_assignee=True,
        groups=False,
        must_all_native=False,
        comments=True,
        attachments=True,
        due_time=False,
        user_map=True,
        directory=True,
        assignee_id_pattern=r"[1-9][0-9]*",
        assignee_id_example="a Paymo user number such as 241185",
        delete_warning="Paymo also deletes the task's time entries.",
        label="Paymo",
    )

    def __init__(
        self,
        api: ApiClient,
        store: SqlAlchemyTaskStore,
        links: SqlAlchemyUserMap,
        *,
        project_id: int | None = None,
        tasklist_id: int | None = None,
        marks: SyncMarks | None = None,
    ) -> None:
        if project_id is None and tasklist_id is None:
            raise ValueError("Paymo needs PAYMO_PROJECT_ID or PAYMO_TASKLIST_ID for new tasks")
        super().__init__(store, links, marks)
        self._api = api
        self._api_clients = (api,)
        self._project_id = project_id
        self._tasklist_id = tasklist_id

    def _push_new(self, draft: TaskDraft) -> str:
        body: dict[str, object] = {
            "name": draft.title,
            "description": draft.description,
            "users": self._user_ids(draft.team_id, draft.assignees),
        }
        if draft.due is not None:
            body["due_date"] = draft.due.date.isoformat()
        if self._tasklist_id is not None:
            body["tasklist_id"] = self._tasklist_id
        else:
            body["project_id"] = self._project_id
        answer = self._api.json(self._api.request("POST", "tasks", json=body))
        try:
            return str(int(answer["tasks"][0]["id"]))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BackendUnavailable(
                f"Paymo answered in a shape taskbot doesn't know ({type(exc).__name__})."
            ) from None

    def _push_change(self, before: Task, after: Task) -> None:
        changes: dict[str, object] = {}
        if after.title != before.title:
            changes["name"] = after.title
        if after.description != before.description:
            changes["description"] = after.description
        due_before = before.due.date if before.due else None
        due_after = after.due.date if after.due else None
        if due_after != due_before:
            changes["due_date"] = due_after.isoformat() if due_after else None
        if after.is_completed != before.is_completed:
            changes["complete"] = after.is_completed
        task_id = int(self.external_id(after))
        if changes:
            self._api.request("PUT", f"tasks/{task_id}", json=changes)
        users_after = self._user_ids(after.team_id, after.assignees)
        if users_after != self._user_ids(before.team_id, before.assignees):
            self._reassign(after.team_id, task_id, set(users_after))
        for comment in added_comments(before, after):
            if not comment.system:
                self._push_comment(after, task_id, comment)

    def _push_comment(self, task: Task, task_id: int, comment: Comment) -> None:
        content = _content(comment)
        answer = self._api.json(
            self._api.request("POST", "comments", json={"task_id": task_id, "content": content})
        )
        try:
            made = answer["comments"][0]
        except (KeyError, IndexError, TypeError):
            log.warning("Paymo answered a new comment on %s without its id", task.handle)
            return  # read back, it is still recognised by its words (``_own_remote``)
        self.remember_comment(task, comment, str(made["id"]), str(made.get("content") or content))

    def _own_remote(self, task: Task, found: RemoteComment) -> Comment | None:
        """A comment taskbot wrote before it kept links: the words it writes for one."""
        return next(
            (c for c in task.comments if not c.system and plain_text(_content(c)) == found.text),
            None,
        )

    def _reassign(self, team_id: str, task_id: int, users: set[int]) -> None:
        """Assignments through ``/api/userstasks``: add the new people, remove the others."""
        answer = self._api.json(
            self._api.request("GET", "userstasks", params={"where": f"task_id={task_id}"})
        )
        current = {int(a["user_id"]): int(a["id"]) for a in answer.get("userstasks", [])}
        for user in sorted(users - current.keys()):
            self._api.request("POST", "userstasks", json={"user_id": user, "task_id": task_id})
        for user in sorted(current.keys() - users):
            if self._links.by_assignee(team_id, NAME, AssigneeKind.USER, str(user)) is None:
                continue  # someone taskbot can't name (a task taken in) stays assigned
            self._api.request("DELETE", f"userstasks/{current[user]}")

    def _push_delete(self, external_id: str) -> None:
        self._api.request("DELETE", f"tasks/{external_id}")

    def _fetch(self, external_ids: Sequence[str], tasks: Sequence[Task]) -> dict[str, RemoteState]:
        where = f"id in ({','.join(external_ids)})"
        answer = self._api.json(self._api.request("GET", "tasks", params={"where": where}))
        by_id = {self.external_id(t): t for t in tasks}
        comments = self._comments(external_ids)
        if comments is not None:
            self._read_links(tasks)
        found: dict[str, RemoteState] = {}
        for raw in answer.get("tasks", []):
            key = str(raw.get("id"))
            if key in by_id:
                task = by_id[key]
                found[key] = _remote_state(
                    raw,
                    task,
                    comments.get(key, ()) if comments is not None else None,
                    self._assignees_of(raw, task),
                )
        return found

    # --- changes and intake: filtered lists from a high-water mark ------------------------------

    def _listing(self, now: datetime) -> Listing:
        """The tasks of linked people changed since the mark (less ``MARK_MARGIN``); on the
        first pass, since ``INTAKE_LOOKBACK`` ago. ``updated_on`` filters take Unix seconds."""
        mark = self._marks.get(NAME, CHANGES_MARK)
        margin = int(MARK_MARGIN.total_seconds())
        since = int(mark) - margin if mark else int((now - INTAKE_LOOKBACK).timestamp())
        users = sorted(
            {int(link.assignee_id) for link in self._links.list_all() if link.backend == NAME}
        )
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(users), USERS_PER_LIST):
            ids = ",".join(str(u) for u in users[start : start + USERS_PER_LIST])
            where = f"users in ({ids}) and updated_on>{since}"
            answer = self._api.json(self._api.request("GET", "tasks", params={"where": where}))
            found.update({str(raw["id"]): raw for raw in answer.get("tasks", []) if "id" in raw})
        keys = builtins.list(found)
        for start in range(0, len(keys), self.batch_size):  # their comments, as a read by id does
            chunk = keys[start : start + self.batch_size]
            comments = self._comments(chunk)
            if comments is not None:
                for key in chunk:
                    found[key][THREAD] = comments.get(key, ())
        if mark is None:
            self._marks.set(NAME, CHANGES_MARK, str(since), now)
        return Listing(found=found)

    def _listed(self, listing: Listing, failed: set[str], now: datetime) -> None:
        """The mark moves to the newest ``updated_on`` read (Paymo's clock, never ours), but
        stays before any task whose pass failed, so the next pass reads it again."""
        stamps = {key: _unix(raw.get("updated_on")) for key, raw in listing.found.items()}
        newest = max((s for s in stamps.values() if s is not None), default=None)
        held = [stamps[key] for key in failed if stamps.get(key) is not None]
        if held:
            newest = min(newest or 0, min(s for s in held if s is not None) - 1)
        mark = self._marks.get(NAME, CHANGES_MARK)
        if newest is not None and (mark is None or newest > int(mark)):
            self._marks.set(NAME, CHANGES_MARK, str(newest), now)

    def _listed_state(self, raw: dict[str, Any], task: Task) -> RemoteState:
        thread = raw.get(THREAD)  # None: the thread read failed, comments wait
        comments = thread if isinstance(thread, tuple) else None
        return _remote_state(raw, task, comments, self._assignees_of(raw, task))

    def _assignees_of(self, raw: dict[str, Any], task: Task) -> tuple[Assignee, ...] | None:
        """The task's Slack assignees as Paymo holds them; None: leave them as they are."""
        users = _users(raw)
        return None if users is None else self.slack_assignees(task.team_id, users)

    def _incoming(self, raw: dict[str, Any]) -> Incoming | None:
        if raw.get("complete"):
            return None
        due = raw.get("due_date")
        return Incoming(
            external_id=str(raw["id"]),
            title=str(raw.get("name") or ""),
            description=str(raw.get("description") or ""),
            due=Due(date=date.fromisoformat(str(due)[:10])) if due else None,
            status=Status.NEW,
            users=tuple(str(u) for u in raw.get("users") or []),
            creator=str(raw["user_id"]) if raw.get("user_id") is not None else None,
        )

    def _comments(self, external_ids: Sequence[str]) -> dict[str, tuple[RemoteComment, ...]] | None:
        """People's comments on these tasks, by task id, in one call; None if unread."""
        where = f"task_id in ({','.join(external_ids)})"
        try:
            answer = self._api.json(
                self._api.request("GET", "threads", params={"where": where, "include": "comments"})
            )
            found: dict[str, builtins.list[RemoteComment]] = {}
            for thread in answer.get("threads", []):
                comments = found.setdefault(str(thread.get("task_id")), [])
                comments.extend(_remote_comment(c) for c in thread.get("comments") or [])
        except BackendUnavailable:
            raise
        except (DomainError, AttributeError, TypeError) as exc:  # comments wait for next pass
            log.warning("Paymo comment threads could not be read: %s", type(exc).__name__)
            return None
        return {key: tuple(comments) for key, comments in found.items()}

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        answer = self._api.json(self._api.request("GET", "users", params={"where": "active=true"}))
        wanted = email.strip().lower()
        found = [u for u in answer.get("users", []) if str(u.get("email", "")).lower() == wanted]
        return str(found[0]["id"]) if len(found) == 1 else None

    def _user_ids(self, team_id: str, assignees: Iterable[Assignee]) -> builtins.list[int]:
        if any(a.kind is AssigneeKind.GROUP for a in assignees):
            raise InvalidInput({"assignees": "Paymo has no groups; pick people instead."})
        return sorted(int(i) for i in self.linked(team_id, assignees, AssigneeKind.USER))
