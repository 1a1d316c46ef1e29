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
- Comments stay in taskbot (shown on the cards); they are not written to Paymo's threads.
- Users by email: ``GET /api/users?where=active=true``, matched case-insensitively; active users
  have unique emails per the docs, so more than one match is treated as none.
- Deleting a task in Paymo also deletes its time entries: the Slack confirmation says so.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import httpx

from bot.backends.http import ApiClient
from bot.domain import rules
from bot.domain.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from bot.domain.models import (
    Actor,
    Assignee,
    AssigneeKind,
    BackendCapabilities,
    Due,
    Task,
    TaskDraft,
    TaskQuery,
)
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
        url if url.endswith("/") else url + "/",
        auth=(api_key, "X"),
        headers={"Accept": "application/json"},
        detail=_detail,
        key_hint="PAYMO_API_KEY",
        **options,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Remote:
    """The fields of a Paymo task taskbot keeps in step."""

    id: int
    name: str
    description: str
    due_date: date | None
    users: frozenset[int]
    complete: bool
    updated_on: str

    @classmethod
    def parse(cls, raw: dict[str, object]) -> Remote:
        due = raw.get("due_date")
        users = raw.get("users") or []
        return cls(
            id=int(raw["id"]),  # type: ignore[call-overload]
            name=str(raw.get("name") or ""),
            description=str(raw.get("description") or ""),
            due_date=date.fromisoformat(str(due)[:10]) if due else None,
            users=frozenset(int(u) for u in users),  # type: ignore[attr-defined]
            complete=bool(raw.get("complete")),
            updated_on=str(raw.get("updated_on") or ""),
        )


class PaymoBackend:
    name = NAME
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
        self._api = api
        self._store = store
        self._links = links
        self._project_id = project_id
        self._tasklist_id = tasklist_id

    # --- the TaskBackend port ------------------------------------------------------------------

    def create(self, draft: TaskDraft, now: datetime) -> Task:
        body: dict[str, object] = {
            "name": draft.title,
            "description": draft.description,
            "users": sorted(self._user_ids(draft.team_id, draft.assignees)),
        }
        if draft.due is not None:
            body["due_date"] = draft.due.date.isoformat()
        if self._tasklist_id is not None:
            body["tasklist_id"] = self._tasklist_id
        else:
            body["project_id"] = self._project_id
        remote = self._one(self._api.request("POST", "tasks", json=body))
        try:
            return self._store.create(draft, now, task_id=f"{ID_PREFIX}{remote.id}")
        except Exception:  # keep the systems in step: undo the Paymo task, then report
            try:
                self._api.request("DELETE", f"tasks/{remote.id}")
            except Exception:
                log.exception("Paymo task %s is orphaned: taskbot could not store it", remote.id)
            raise

    def get(self, team_id: str, handle: str) -> Task:
        return self._store.get(team_id, handle)

    def save(self, task: Task, expected_version: int) -> Task:
        """Drive Paymo to the task's state, then store it; nothing stored that Paymo refused."""
        current = self._store.get(task.team_id, task.handle)
        if current.version != expected_version:
            raise Conflict(f"{task.handle} changed since you last saw it.", current=current)
        changes = self._changes(current, task)
        if changes:
            self._api.request("PUT", f"tasks/{_paymo_id(task)}", json=changes)
        return self._store.save(task, expected_version)

    def delete(self, team_id: str, handle: str, expected_version: int) -> None:
        task = self._store.get(team_id, handle)
        if task.version != expected_version:
            raise Conflict(f"{handle} changed since you last saw it.", current=task)
        try:
            self._api.request("DELETE", f"tasks/{_paymo_id(task)}")
        except NotFound:
            pass  # already gone in Paymo: forget it here too
        self._store.delete(team_id, handle, expected_version, datetime.now().astimezone())

    def list(self, query: TaskQuery) -> list[Task]:
        return self._store.list(query)

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        answer = self._api.json(self._api.request("GET", "users", params={"where": "active=true"}))
        wanted = email.strip().lower()
        found = [u for u in answer.get("users", []) if str(u.get("email", "")).lower() == wanted]
        return str(found[0]["id"]) if len(found) == 1 else None

    # --- two-way sync ----------------------------------------------------------------------

    def pull(self, now: datetime) -> Sequence[tuple[Task, Task]]:
        """Changes made in Paymo's own UI to open tasks: (before, after) pairs, already stored.

        A task deleted in Paymo is marked deleted here (its cards say so). Paymo has no versions,
        so a field counts as changed in Paymo when it differs from what taskbot last wrote there.
        """
        changed: builtins.list[tuple[Task, Task]] = []
        open_tasks = self._store.mirrored(ID_PREFIX)
        for chunk in _chunks(open_tasks, 100):
            ids = [int(task_id.removeprefix(ID_PREFIX)) for _, _, task_id in chunk]
            where = f"id in ({','.join(str(i) for i in ids)})"
            answer = self._api.json(self._api.request("GET", "tasks", params={"where": where}))
            remote = {r.id: r for r in (Remote.parse(t) for t in answer.get("tasks", []))}
            for team_id, handle, task_id in chunk:
                before = self._store.get(team_id, handle)
                found = remote.get(int(task_id.removeprefix(ID_PREFIX)))
                after = self._apply(before, found, now)
                if after is not None:
                    changed.append((before, after))
        return changed

    def _apply(self, task: Task, remote: Remote | None, now: datetime) -> Task | None:
        if remote is None:  # deleted in Paymo
            self._store.delete(task.team_id, task.handle, task.version, now)
            return task.model_copy(update={"deleted": True, "version": task.version + 1})
        system = Actor(team_id=task.team_id, user_id=task.assignor)
        after = task
        updates: dict[str, object] = {}
        if remote.name and remote.name != task.title:
            updates["title"] = remote.name
        if remote.description != task.description:
            updates["description"] = remote.description
        if remote.due_date != (task.due.date if task.due else None):
            tz = task.due.tz if task.due else "UTC"
            updates["due"] = Due(date=remote.due_date, tz=tz) if remote.due_date else None
        if updates:
            after = after.model_copy(
                update={**updates, "updated_at": now, "version": after.version + 1}
            )
        if remote.complete and not after.is_completed:
            after = rules.complete_task(after, system, now)
        elif not remote.complete and after.is_completed:
            after = rules.reopen(after, system, now)
        if after is task:
            return None
        try:
            return self._store.save(after, task.version)
        except Conflict:  # changed in Slack meanwhile: Slack's change wins; next pull re-checks
            return None

    # --- mapping -------------------------------------------------------------------------------

    def _user_ids(self, team_id: str, assignees: Iterable[Assignee]) -> set[int]:
        ids: set[int] = set()
        missing: builtins.list[str] = []
        for assignee in assignees:
            if assignee.kind is AssigneeKind.GROUP:
                raise InvalidInput({"assignees": "Paymo has no groups; pick people instead."})
            link = self._links.get(team_id, NAME, assignee.id)
            if link is None:
                missing.append(f"<@{assignee.id}>")
            else:
                ids.add(int(link.assignee_id))
        if missing:
            raise InvalidInput(
                {"assignees": f"{', '.join(missing)} not linked to Paymo; see `/task link`."}
            )
        return ids

    def _changes(self, before: Task, after: Task) -> dict[str, object]:
        changes: dict[str, object] = {}
        if after.title != before.title:
            changes["name"] = after.title
        if after.description != before.description:
            changes["description"] = after.description
        due_before = before.due.date if before.due else None
        due_after = after.due.date if after.due else None
        if due_after != due_before:
            changes["due_date"] = due_after.isoformat() if due_after else None
        users_before = self._user_ids(before.team_id, before.assignees)
        users_after = self._user_ids(after.team_id, after.assignees)
        if users_after != users_before:
            changes["users"] = sorted(users_after)
        if after.is_completed != before.is_completed:
            changes["complete"] = after.is_completed
        return changes

    def _one(self, response: httpx.Response) -> Remote:
        body = self._api.json(response)
        try:
            return Remote.parse(body["tasks"][0])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BackendUnavailable(
                f"Paymo answered in a shape taskbot doesn't know ({type(exc).__name__})."
            ) from None


def _paymo_id(task: Task) -> int:
    return int(task.id.removeprefix(ID_PREFIX))


def _chunks(
    items: Sequence[tuple[str, str, str]], size: int
) -> Iterable[list[tuple[str, str, str]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
