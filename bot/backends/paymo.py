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
- Assignees are set with ``users`` on create, then changed through ``/api/userstasks``. Sync
  reads them back from ``users``; an empty list means "anyone on the project" there, which
  taskbot doesn't read as everyone unassigned (the assignees stay).
- Who completed a task is ``completed_by`` (the key owner's id when taskbot completed it): a
  completion made in Paymo is told as that linked person's, else as made in Paymo.
- Users by email: ``GET /api/users?where=active=true``, matched case-insensitively; active users
  have unique emails per the docs, so more than one match is treated as none.
- Deleting a task in Paymo also deletes its time entries: the Slack confirmation says so.
"""

from __future__ import annotations

import builtins
import html
import logging
from collections.abc import Iterable, Sequence
from datetime import date

import httpx

from bot.backends.http import ApiClient
from bot.backends.mirror import MirroredBackend, RemoteState
from bot.domain.errors import BackendUnavailable, InvalidInput
from bot.domain.models import (
    Assignee,
    AssigneeKind,
    BackendCapabilities,
    Comment,
    Due,
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


def _remote_state(
    raw: dict[str, object], task: Task, assignees: tuple[Assignee, ...] | None = None
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
    ) -> None:
        if project_id is None and tasklist_id is None:
            raise ValueError("Paymo needs PAYMO_PROJECT_ID or PAYMO_TASKLIST_ID for new tasks")
        super().__init__(store, links)
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
            self._reassign(task_id, set(users_after))
        for comment in added_comments(before, after):
            if not comment.system:
                self._api.request(
                    "POST", "comments", json={"task_id": task_id, "content": _content(comment)}
                )

    def _reassign(self, task_id: int, users: set[int]) -> None:
        """Assignments through ``/api/userstasks``: add the new people, remove the others."""
        answer = self._api.json(
            self._api.request("GET", "userstasks", params={"where": f"task_id={task_id}"})
        )
        current = {int(a["user_id"]): int(a["id"]) for a in answer.get("userstasks", [])}
        for user in sorted(users - current.keys()):
            self._api.request("POST", "userstasks", json={"user_id": user, "task_id": task_id})
        for user in sorted(current.keys() - users):
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
                task = by_id[key]
                users = _users(raw)
                assignees = None if users is None else self.slack_assignees(task.team_id, users)
                found[key] = _remote_state(raw, task, assignees)
        return found

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        answer = self._api.json(self._api.request("GET", "users", params={"where": "active=true"}))
        wanted = email.strip().lower()
        found = [u for u in answer.get("users", []) if str(u.get("email", "")).lower() == wanted]
        return str(found[0]["id"]) if len(found) == 1 else None

    def _user_ids(self, team_id: str, assignees: Iterable[Assignee]) -> builtins.list[int]:
        if any(a.kind is AssigneeKind.GROUP for a in assignees):
            raise InvalidInput({"assignees": "Paymo has no groups; pick people instead."})
        return sorted(int(i) for i in self.linked(team_id, assignees, AssigneeKind.USER))
