"""Maxsight v5 task assignment (``TASK_BACKEND=maxsight``).

Contract: seed 003 and ../shared/API-NOTES.md §3. Maxsight's tasks come from its workflows: the
v5 API reads them (``GET /v5/tasks/{id}``, ``POST /v5/tasks/search``) and assigns, reassigns or
unassigns them to one USER or TEAM (``PUT /v5/tasks/{id}/update-assignment`` with ``If-Match`` set
to the task's ``updated_at`` exactly as last read). There is no create, complete or delete, and no
users or teams directory: the capabilities say so, the Slack UI does not offer them, and links
come from admins or ``taskbot users import``.

Tasks enter taskbot's store (``maxsight-<id>``, a handle each) when someone lists theirs; their
``updated_at`` is kept as it came (``storage.external_versions``). A 409 "Version mismatch" re-reads
the task: if its assignment is still the one the person saw, the change is sent once more with the
new token; otherwise the person is shown the current assignment and nothing is overwritten.

Safe readings where the docs are silent: the error body is not documented (``message`` is read,
else the text); ``assigned_by_id`` is the acting person's linked id, else ``MAXSIGHT_ACTOR_ID``;
the assignment comment is the note written in the reassign form; only ``INCOMPLETE`` is a
documented status, so any status starting with ``COMPLETED`` reads as completed.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.backends.http import ApiClient, ApiError
from bot.backends.mirror import MirroredBackend, RemoteState
from bot.domain.errors import Conflict, InvalidInput, NotFound
from bot.domain.models import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    Assignee,
    AssigneeKind,
    BackendCapabilities,
    CompletionCondition,
    ListView,
    Part,
    Status,
    Task,
    TaskDraft,
    TaskQuery,
)
from bot.domain.rules import added_comments, clip
from storage.external_versions import SqlAlchemyExternalVersions
from storage.local_tasks import SqlAlchemyTaskStore
from storage.user_map import SqlAlchemyUserMap

NAME = "maxsight"
ID_PREFIX = "maxsight-"
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
NO_CREATE = (
    "Maxsight tasks come from its workflows, so taskbot can't create them. "
    "`/task list` shows the ones assigned to you; you can reassign them from Slack."
)
NO_ASSIGNOR = "USLACKBOT"  # made by a workflow with no linked person behind it: admins manage it
KIND_OF = {"USER": AssigneeKind.USER, "TEAM": AssigneeKind.GROUP}
TYPE_OF = {AssigneeKind.USER: "USER", AssigneeKind.GROUP: "TEAM"}


def _detail(response: httpx.Response) -> str | None:
    body = response.json()
    return str(body.get("message")) if isinstance(body, dict) and body.get("message") else None


def client(url: str, api_key: str, **options: object) -> ApiClient:
    return ApiClient(
        "Maxsight",
        url,
        headers={"apikey": api_key, "Accept": "application/json"},
        detail=_detail,
        key_hint="MAXSIGHT_API_KEY, MAXSIGHT_API_URL (your region) and the IP allow list",
        **options,  # type: ignore[arg-type]
    )


class MaxsightBackend(MirroredBackend):
    name = NAME
    prefix = ID_PREFIX
    capabilities = BackendCapabilities(
        multi_assignee=False,
        groups=True,
        must_all_native=False,
        comments=False,
        attachments=False,
        create=False,
        delete=False,
        complete=False,
        due_time=False,
        user_map=True,
        directory=False,
        assignee_id_pattern=UUID,
        assignee_id_example="a Maxsight user or team UUID",
        assignment_comment=True,
        create_refusal=NO_CREATE,
        label="Maxsight",
    )

    def __init__(
        self,
        api: ApiClient,
        store: SqlAlchemyTaskStore,
        links: SqlAlchemyUserMap,
        versions: SqlAlchemyExternalVersions,
        *,
        actor_id: str | None = None,
    ) -> None:
        super().__init__(store, links)
        self._api = api
        self._api_clients = (api,)
        self._versions = versions
        self._actor_id = actor_id

    # --- what Maxsight can't do ------------------------------------------------------------

    def _push_new(self, draft: TaskDraft) -> str:
        raise InvalidInput({"task": NO_CREATE})

    def _push_delete(self, external_id: str) -> None:
        raise InvalidInput({"task": "Maxsight tasks can't be deleted from taskbot."})

    # --- reading -------------------------------------------------------------------------------

    def list(self, query: TaskQuery) -> builtins.list[Task]:
        """Tasks assigned to the person (or their teams) are read from Maxsight first."""
        if query.view in (ListView.MINE, ListView.INVOLVED) and query.user_id:
            mine = [Assignee.user(query.user_id), *(Assignee.group(g) for g in query.group_ids)]
            ids = [
                link.assignee_id
                for a in mine
                if (link := self._links.get(query.team_id, NAME, a.id)) is not None
            ]
            if ids:
                for raw in self._search(ids):
                    self._adopt(query.team_id, raw)
        return self._store.list(query)

    def _search(self, assignee_ids: Sequence[str]) -> builtins.list[dict[str, Any]]:
        conditions = [{"filterType": "text", "type": "equals", "filter": i} for i in assignee_ids]
        model = (
            {"assigned_to_id": conditions[0]}
            if len(conditions) == 1
            else {
                "assigned_to_id": {"filterType": "text", "operator": "OR", "conditions": conditions}
            }
        )
        found: builtins.list[dict[str, Any]] = []
        token: str | None = None
        while True:
            body = {
                "filter_model": model,
                "max_page_size": 50,
                "page_token": token,
                "sorting_field": "CREATED_AT",
                "sorting_type": "ASC",
            }
            answer = self._api.json(self._api.request("POST", "v5/tasks/search", json=body))
            found.extend(answer.get("items") or [])
            token = answer.get("next_page_token")
            if not token:
                return found

    def _adopt(self, team_id: str, raw: dict[str, Any]) -> Task:
        """Store (or refresh) a Maxsight task in taskbot's store, with its version token.

        Its assignor (who may manage it) is whoever ``assigned_by_id`` is linked to, else the
        operator's (``MAXSIGHT_ACTOR_ID``) link, else nobody in Slack: never whoever happened to
        list it first."""
        task_id = f"{ID_PREFIX}{raw['id']}"
        known = self._store.find(task_id)
        if known is None:
            now = datetime.now(UTC)
            assignor = self._slack_id(team_id, raw, "assigned_by_id") or self._operator(team_id)

            def build(handle: str) -> Task:
                return Task(
                    team_id=team_id,
                    id=task_id,
                    handle=handle,
                    title=_title(raw),
                    description=_description(raw),
                    condition=CompletionCondition.ANY_ONE,
                    status=Status.COMPLETED if _completed(raw) else Status.NEW,
                    assignor=assignor,
                    parts=tuple(Part(assignee=a) for a in self._assignees(team_id, raw)),
                    created_at=now,
                    updated_at=now,
                    version=1,
                )

            known = self._store.adopt(team_id, task_id, build)
        self._versions.set(task_id, str(raw["updated_at"]))
        return known

    def _fetch(self, external_ids: Sequence[str], tasks: Sequence[Task]) -> dict[str, RemoteState]:
        found: dict[str, RemoteState] = {}
        for task in tasks:
            try:
                raw = self._read(self.external_id(task))
            except NotFound:
                continue  # gone from Maxsight: the pull marks it deleted
            self._versions.set(task.id, str(raw["updated_at"]))
            found[self.external_id(task)] = RemoteState(
                title=_title(raw),
                description=_description(raw),
                due=None,
                complete=_completed(raw),
                assignees=self._assignees(task.team_id, raw),
                assigned_by=(raw.get("assignment") or {}).get("assigned_by_id"),
            )
        return found

    def _read(self, external_id: str) -> dict[str, Any]:
        raw = self._api.json(self._api.request("GET", f"v5/tasks/{external_id}"))
        if not isinstance(raw, dict) or "updated_at" not in raw:
            raise InvalidInput({"task": "Maxsight answered with something that isn't a task."})
        return raw

    # --- assignment ----------------------------------------------------------------------------

    def _push_change(self, before: Task, after: Task) -> None:
        if set(after.assignees) == set(before.assignees):
            return
        if len(after.assignees) > 1:
            raise InvalidInput({"assignees": "A Maxsight task has one assignee (a user or team)."})
        body = self._assignment(before, after)
        task_id = self.external_id(after)
        token = self._versions.get(after.id) or str(self._read(task_id)["updated_at"])
        try:
            answer = self._put(task_id, token, body)
        except ApiError as exc:
            if exc.status != 409:
                raise
            current = self._read(task_id)
            if self._assignees(after.team_id, current) != tuple(before.assignees):
                self._versions.set(after.id, str(current["updated_at"]))
                raise Conflict(
                    f"{after.handle} was reassigned in Maxsight meanwhile; here is who has it now.",
                    current=self._refresh(before, current),
                ) from None
            answer = self._put(task_id, str(current["updated_at"]), body)  # unchanged: once more
        self._versions.set(after.id, str(answer["updated_at"]))

    def _put(self, task_id: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._api.request(
            "PUT", f"v5/tasks/{task_id}/update-assignment", json=body, headers={"If-Match": token}
        )
        answer = self._api.json(response)
        return answer if isinstance(answer, dict) else {}

    def _assignment(self, before: Task, after: Task) -> dict[str, Any]:
        by = self._acting_id(before, after)
        note = _note(before, after)
        if not after.assignees:
            return {"unassign": {"assigned_by_id": by, "assignment_comment": note}}
        (assignee,) = after.assignees
        (target,) = self.linked(after.team_id, [assignee], assignee.kind)
        return {
            "update": {
                "assigned_by_id": by,
                "assigned_to_id": target,
                "assigned_to_type": TYPE_OF[assignee.kind],
                "assignment_comment": note,
            }
        }

    def _acting_id(self, before: Task, after: Task) -> str:
        """Who reassigned: the author of the change's assignment comment, if linked."""
        for comment in reversed(added_comments(before, after)):
            if comment.author is None:
                continue
            link = self._links.get(after.team_id, NAME, comment.author)
            if link is not None:
                return link.assignee_id
        if self._actor_id:
            return self._actor_id
        raise InvalidInput(
            {"assignees": "You are not linked to Maxsight and MAXSIGHT_ACTOR_ID is not set."}
        )

    def _refresh(self, task: Task, raw: dict[str, Any]) -> Task:
        """Store Maxsight's current assignment over taskbot's copy; the stored task."""
        parts = tuple(
            task.part_of(a) or Part(assignee=a) for a in self._assignees(task.team_id, raw)
        )
        fresh = task.model_copy(update={"parts": parts, "version": task.version + 1})
        return self._store.save(fresh, task.version)

    def _assignees(self, team_id: str, raw: dict[str, Any]) -> tuple[Assignee, ...]:
        assignment = raw.get("assignment") or {}
        kind = KIND_OF.get(str(assignment.get("assigned_to_type")))
        target = assignment.get("assigned_to_id")
        if kind is None or not target:
            return ()
        link = self._links.by_assignee(team_id, NAME, kind, str(target))
        return (Assignee(kind=kind, id=link.slack_id),) if link is not None else ()

    def _operator(self, team_id: str) -> str:
        """The Slack user linked to the operator account, else ``NO_ASSIGNOR``."""
        link = (
            self._links.by_assignee(team_id, NAME, AssigneeKind.USER, self._actor_id)
            if self._actor_id
            else None
        )
        return link.slack_id if link is not None else NO_ASSIGNOR

    def _slack_id(self, team_id: str, raw: dict[str, Any], key: str) -> str | None:
        by = (raw.get("assignment") or {}).get(key)
        link = self._links.by_assignee(team_id, NAME, AssigneeKind.USER, str(by)) if by else None
        return link.slack_id if link is not None else None

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        return None  # no users directory is documented: links come from admins or an import


def _title(raw: dict[str, Any]) -> str:
    name = raw.get("name") or raw.get("c_name") or raw.get("step_name")
    return clip(str(name or f"Maxsight task {str(raw.get('id'))[:8]}").strip(), TITLE_MAX)


def _description(raw: dict[str, Any]) -> str:
    text = f"Step: {raw.get('step_name') or '?'} · entity {raw.get('entity_id') or '?'}"
    return clip(text, DESCRIPTION_MAX)


def _completed(raw: dict[str, Any]) -> bool:
    return str(raw.get("status") or "").startswith("COMPLETED")


def _note(before: Task, after: Task) -> str | None:
    """The note the person wrote in the reassign form (a comment added with this change)."""
    notes = [c.text for c in added_comments(before, after) if not c.system]
    return notes[-1] if notes else None
