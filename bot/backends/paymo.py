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
  Comments written in Paymo are not brought back to Slack.
- Assignees are set with ``users`` on create, then changed through ``/api/userstasks``.
- Users by email: ``GET /api/users?where=active=true``, matched case-insensitively; active users
  have unique emails per the docs, so more than one match is treated as none.
- Deleting a task in Paymo also deletes its time entries: the Slack confirmation says so.

Sync and intake (every ``BACKEND_SYNC_SECONDS``, ``bot.backends.mirror``). What the API allows:
filtered lists (``GET /api/tasks?where=…``: ``users in (…)``, ``updated_on>`` taking a Unix
timestamp, joined with ``and``), no paging (a maintainer advises against pulling thousands of
tasks at once), no list of deletions, and 5 calls per 5 s (a third-party figure). The safe
reading chosen (from 100 calls of ``id in (…)`` a pass for 10,000 tasks, which can't fit in a
minute at 1 call/s, down to about 11):
- One filtered list a pass (per 100 linked people): ``users in (<linked ids>) and
  updated_on><mark − MARK_MARGIN>``. The mark is the newest ``updated_on`` read (Paymo's clock,
  not ours; the margin re-reads late commits), kept in ``sync_marks`` across passes and
  processes, and held before any task whose pass failed; the first pass starts
  ``INTAKE_LOOKBACK`` ago. Listed tasks taskbot mirrors are compared at once (taskbot's own
  writes read back change nothing); open ones it doesn't have, assigned to a linked person, are
  taken in (their creator, ``user_id``, as assignor and author when linked).
- Deletions (and changes to a task no linked person is assigned to any more) are found by
  reading mirrored tasks by id, ``check_per_pass`` (1,000, 10 calls) a pass, taking turns: every
  task is read within ``ceil(n / 1000)`` passes.
- Assignees taskbot can't name (not linked) stay assigned when taskbot changes the assignees.
"""

from __future__ import annotations

import builtins
import html
import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime
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
    RemoteState,
    SyncMarks,
)
from bot.domain.errors import BackendUnavailable, InvalidInput
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


def _unix(text: object) -> int | None:
    """Paymo's UTC ``2024-01-17T18:23:02Z`` as Unix seconds (its filters' unit)."""
    try:
        return int(datetime.fromisoformat(str(text)).timestamp()) if text else None
    except ValueError:
        return None


def _remote_state(raw: dict[str, object], task: Task) -> RemoteState:
    due = raw.get("due_date")
    tz = task.due.tz if task.due else "UTC"
    return RemoteState(
        title=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        due=Due(date=date.fromisoformat(str(due)[:10]), tz=tz) if due else None,
        complete=bool(raw.get("complete")),
    )


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
                self._api.request(
                    "POST", "comments", json={"task_id": task_id, "content": _content(comment)}
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
        found: dict[str, RemoteState] = {}
        for raw in answer.get("tasks", []):
            key = str(raw.get("id"))
            if key in by_id:
                found[key] = _remote_state(raw, by_id[key])
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
        return _remote_state(raw, task)

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

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        answer = self._api.json(self._api.request("GET", "users", params={"where": "active=true"}))
        wanted = email.strip().lower()
        found = [u for u in answer.get("users", []) if str(u.get("email", "")).lower() == wanted]
        return str(found[0]["id"]) if len(found) == 1 else None

    def _user_ids(self, team_id: str, assignees: Iterable[Assignee]) -> builtins.list[int]:
        if any(a.kind is AssigneeKind.GROUP for a in assignees):
            raise InvalidInput({"assignees": "Paymo has no groups; pick people instead."})
        return sorted(int(i) for i in self.linked(team_id, assignees, AssigneeKind.USER))
