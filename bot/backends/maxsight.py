"""Maxsight v5 task assignment (``TASK_BACKEND=maxsight``).

Contract: seed 003 and ../shared/API-NOTES.md §3. Maxsight's tasks come from its workflows: the
v5 API reads them (``GET /v5/tasks/{id}``, ``POST /v5/tasks/search``) and assigns, reassigns or
unassigns them to one USER or TEAM (``PUT /v5/tasks/{id}/update-assignment`` with ``If-Match`` set
to the task's ``updated_at`` exactly as last read). There is no create, complete or delete, and no
users or teams directory: the capabilities say so, the Slack UI does not offer them, and links
come from admins or ``taskbot users import``.

A task has one assignee (``multi_assignee`` False): ``/task assign`` replaces it (an ``update``
body) and ``/task unassign`` clears it (an ``unassign`` body). A 409 "Version mismatch" re-reads
the task: if its assignment is still the one the person saw, the change is sent once more with the
new token; otherwise the person is shown the current assignment and nothing is overwritten.

Tasks enter taskbot's store (``maxsight-<id>``, a handle each) by the intake sweep (``pull``, every
``BACKEND_SYNC_SECONDS``) or when someone lists theirs; their ``updated_at`` is kept as it came
(``storage.external_versions``). The sweep searches the open tasks (``status`` set filter
``INCOMPLETE``, the one open status documented; v4's others are ``COMPLETED_*``) assigned to every
linked user and team: the linked ids of a workspace go ``SEARCH_BATCH`` at a time into one search
(an ``OR`` of ``equals`` conditions on ``assigned_to_id``), paged with ``next_page_token``. Batching
is a choice: the docs allow ``OR`` conditions but state no limit on their number, so a batch the
API refuses as invalid is searched again one id at a time, and so are the later ones. A task new
to taskbot is taken in and told to its assignee (each member of a linked team, up to the notifier's
cap) as assigned by whoever ``assigned_by_id`` is linked to; a known one is updated from what the
search returned (no GET), and only when its ``updated_at`` differs from the one this process last
took in (a new process, a changed link, or every ``FULL_CHECK_EVERY``-th pass compares them all:
that memory saves store reads, nothing depends on it). Only an open task that had a Slack
assignee and was in no search this pass (it left a queue: reassigned to someone unlinked,
unassigned, completed, deleted) is read alone (GET), ``READS_PER_PASS`` at most, in turn (the
rest a pass later); a task that no linked person has, or that is completed in taskbot, costs
nothing until a search brings it back. So a pass costs, per workspace,
``ceil(linked ids / SEARCH_BATCH)`` searches (one more per ``PAGE_SIZE`` open tasks) plus at most
``READS_PER_PASS`` GETs. ``max_page_size`` has a default (50)
but no documented maximum: the sweep asks for 500, and for 50 once Maxsight refuses that.

Rate limits are not documented: every call takes a turn in the shared ``RateBudget`` at
``MAXSIGHT_RATE_LIMIT`` calls per ``MAXSIGHT_RATE_WINDOW_SECONDS`` (default 60 per 60 s, one a
second on average: a conservative pace for a compliance platform's API that still lets a pass
search 1,200 linked ids with 3,000 open tasks within a minute); a 429 is honoured
(``Retry-After``) by ``bot.backends.http``.

Safe readings where the docs are silent: the error body is not documented (``message`` is read,
else the text); ``assigned_by_id`` is the acting person's linked id, else ``MAXSIGHT_ACTOR_ID``;
the assignment comment is the note written in the reassign form; only ``INCOMPLETE`` is a
documented status, so any status starting with ``COMPLETED`` reads as completed; the filterable
field names are not listed, so only ``assigned_to_id`` and ``status`` (the docs' own example) are
filtered on.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.backends.http import ApiClient, ApiError
from bot.backends.mirror import MirroredBackend, RemoteState, Row, intake_effect
from bot.domain.errors import (
    BackendUnavailable,
    ChangedThere,
    DomainError,
    InvalidInput,
    NotFound,
)
from bot.domain.events import Effect
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
from bot.domain.naming import Naming
from bot.domain.rules import added_comments, clip
from bot.service.ports import Pulled
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
OPEN_STATUS = "INCOMPLETE"  # the one open status the v5 docs show (v4: else COMPLETED_*)
SEARCH_BATCH = 20  # linked ids ORed into one search (1 once Maxsight refuses an OR)
PAGE_SIZE = 500  # the sweep's max_page_size; no maximum is documented (Maxsight may cap it)
DEFAULT_PAGE_SIZE = 50  # the documented default: what the sweep asks for if 500 is refused
READS_PER_PASS = 20  # GETs of tasks that left every queue, at most, in one pass
FULL_CHECK_EVERY = 60  # passes between two in which every searched task is compared in full

log = logging.getLogger(__name__)


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
        self._batch = SEARCH_BATCH
        self._page_size = PAGE_SIZE
        # What this process last took in from each search (an optimisation only: a new process,
        # a changed link or every FULL_CHECK_EVERY-th pass compares every task in full).
        self._synced: dict[tuple[str, str], str] = {}  # (team, task id) → updated_at
        self._linked: dict[str, frozenset[tuple[str, str, str]]] = {}
        self._passes = 0
        self._pass_links: dict[tuple[str, str, str], str] | None = None  # during a sweep

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

    def _search(
        self, assignee_ids: Sequence[str], *, open_only: bool = False, size: int = DEFAULT_PAGE_SIZE
    ) -> builtins.list[dict[str, Any]]:
        """Every task assigned to one of these users or teams (open ones only, if asked), all
        pages of one search."""
        found: builtins.list[dict[str, Any]] = []
        token: str | None = None
        while True:
            body = {
                "filter_model": filter_model(assignee_ids, open_only=open_only),
                "max_page_size": size,
                "page_token": token,
                "sorting_field": "CREATED_AT",
                "sorting_type": "ASC",
            }
            answer = self._api.json(self._api.request("POST", "v5/tasks/search", json=body))
            found.extend(raw for raw in answer.get("items") or [] if _is_task(raw))
            token = answer.get("next_page_token")
            if not token:
                return found

    # --- the intake sweep ----------------------------------------------------------------------

    def pull(self, now: datetime) -> Sequence[Pulled]:
        """The open tasks of every linked user and team, taken in or brought up to date from
        the searches; then the tasks that left every queue, read alone (see the docstring)."""
        self._passes = (self._passes + 1) % FULL_CHECK_EVERY
        if self._passes == 0:
            self._synced.clear()  # now and then every task is compared in full
        queues = self._queues()
        self._pass_links = {
            (team, kind, theirs): slack
            for team, links in queues.items()
            for slack, kind, theirs in links
        }
        try:
            return self._sweep(queues, now)
        finally:
            self._pass_links = None

    def _sweep(
        self, queues: dict[str, frozenset[tuple[str, str, str]]], now: datetime
    ) -> builtins.list[Pulled]:
        changed: builtins.list[Pulled | None] = []
        seen: set[str] = set()
        for team_id, links in queues.items():
            if self._linked.get(team_id) != links:  # a link changed: compare them all again
                self._synced = {k: v for k, v in self._synced.items() if k[0] != team_id}
            for raw in self._queue_tasks(sorted({link[2] for link in links})):
                task_id = f"{ID_PREFIX}{raw['id']}"
                if task_id in seen:
                    continue
                seen.add(task_id)
                if self._synced.get((team_id, task_id)) != str(raw["updated_at"]):
                    changed.append(self._guarded(team_id, task_id, self._take, team_id, raw, now))
            self._linked[team_id] = links
        rows = [r for r in self._store.mirrored_assigned(self.prefix) if r[2] not in seen]
        for task, remote in self._fetch_each(self._load(self._turn(rows))):
            changed.append(self._guarded(task.team_id, task.handle, self._moved, task, remote, now))
        return [c for c in changed if c is not None]

    def _turn(self, rows: Sequence[Row]) -> Sequence[Row]:
        """At most ``READS_PER_PASS`` of the tasks that left every queue, taken in turn (one
        read that changes nothing never holds the others back); the rest wait a pass."""
        if len(rows) <= READS_PER_PASS:
            return rows
        start = (self._passes * READS_PER_PASS) % len(rows)
        return [*rows[start:], *rows[:start]][:READS_PER_PASS]

    def _queues(self) -> dict[str, frozenset[tuple[str, str, str]]]:
        """Each workspace's links to Maxsight users and teams (the queues the sweep reads), as
        (Slack id, kind, Maxsight id)."""
        queues: dict[str, set[tuple[str, str, str]]] = {}
        for link in self._links.list_all():
            if link.backend == NAME:
                queues.setdefault(link.team_id, set()).add(
                    (link.slack_id, link.kind.value, link.assignee_id)
                )
        return {team: frozenset(links) for team, links in queues.items()}

    def _queue_tasks(self, ids: Sequence[str]) -> builtins.list[dict[str, Any]]:
        """The open tasks of these users and teams, ``self._batch`` ids a search. A search
        Maxsight refuses as invalid is tried again with the documented page size, then with
        one id; what worked is kept for the later searches."""
        found: builtins.list[dict[str, Any]] = []
        start = 0
        while start < len(ids):
            batch = ids[start : start + self._batch]
            try:
                found.extend(self._search(batch, open_only=True, size=self._page_size))
            except InvalidInput:
                if self._page_size > DEFAULT_PAGE_SIZE:
                    self._page_size = DEFAULT_PAGE_SIZE
                elif len(batch) > 1:
                    self._batch = 1
                else:
                    raise
                log.warning(
                    "Maxsight refused a search; now %d ids a search, %d a page",
                    self._batch,
                    self._page_size,
                )
                continue
            start += len(batch)
        return found

    def _take(self, team_id: str, raw: dict[str, Any], now: datetime) -> Pulled | None:
        """A task a search returned: taken in when new, else brought up to date from it.
        Once it is as the search says, its ``updated_at`` is remembered (``_synced``)."""
        task_id, stamp = f"{ID_PREFIX}{raw['id']}", str(raw["updated_at"])
        known = self._store.find(task_id)
        if known is None:
            assignees = self._assignees(team_id, raw)
            if not assignees:
                return None  # assigned to an id linked in another kind: nobody to tell
            by = self._author(team_id, raw)
            if by in {a.id for a in assignees}:
                by = None  # picked from their own queue: told as made in Maxsight, so they hear
            effect = intake_effect(task_id, self.capabilities.label, by)
            task = self._adopt_new(team_id, raw, effect)
            self._synced[(team_id, task_id)] = stamp
            if task is None:
                return None
            return Pulled(after=task, by=by, notice=effect.notice_key)
        if known.team_id != team_id:
            return None  # the same Maxsight id linked in two workspaces: the first one has it
        self._versions.set(task_id, stamp)
        pulled = self._apply(known, self._state(team_id, raw), now)
        if pulled is not None or _unchanged(self._store.find(task_id), known):
            self._synced[(team_id, task_id)] = stamp  # else changed in Slack meanwhile: again
        return pulled  # told by its linked ``assigned_by_id`` when Maxsight moved it

    def _moved(self, task: Task, remote: RemoteState | None, now: datetime) -> Pulled | None:
        """A task that left every queue, as read alone (None: gone from Maxsight)."""
        return self._apply(task, remote, now)

    def _adopt_new(self, team_id: str, raw: dict[str, Any], effect: Effect) -> Task | None:
        """Adopt a task new to taskbot, with the job that tells its people; None when another
        process took it in meanwhile."""
        try:
            return self._adopt(team_id, raw, effect)
        except Exception:
            if self._store.find(f"{ID_PREFIX}{raw['id']}") is not None:
                return None
            raise

    def _guarded(
        self, team_id: str, what: str, step: Callable[..., Pulled | None], *args: object
    ) -> Pulled | None:
        """One task's step of the sweep: its failure is logged and the others go on."""
        try:
            return step(*args)
        except BackendUnavailable:
            raise  # Maxsight is down or refuses taskbot: the next pass retries
        except DomainError as exc:
            log.warning("maxsight sync of %s %s refused: %s", team_id, what, exc.message)
        except Exception:
            log.exception("maxsight sync of %s %s failed", team_id, what)
        return None

    def _author(self, team_id: str, raw: dict[str, Any]) -> str | None:
        """The Slack user who made the task's current assignment in Maxsight, if linked."""
        return self._slack_id(team_id, raw, "assigned_by_id")

    def _adopt(self, team_id: str, raw: dict[str, Any], effect: Effect | None = None) -> Task:
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

            known = self._store.adopt(team_id, task_id, build, effect=effect)
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
            found[self.external_id(task)] = self._state(task.team_id, raw)
        return found

    def _state(self, team_id: str, raw: dict[str, Any]) -> RemoteState:
        return RemoteState(
            title=_title(raw),
            description=_description(raw),
            due=None,
            complete=_completed(raw),
            assignees=self._assignees(team_id, raw),
            assigned_by=(raw.get("assignment") or {}).get("assigned_by_id"),
        )

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
            holders = self._assignees(after.team_id, current)
            if holders != tuple(before.assignees):
                self._versions.set(after.id, str(current["updated_at"]))
                naming = Naming()
                who = f"{naming(holders)} has it now" if holders else "nobody in Slack has it now"
                raise ChangedThere(
                    f"{after.handle} was reassigned in Maxsight meanwhile: {who}, "
                    "so nothing was changed.",
                    current=self._refresh(before, current),
                    refs=naming.refs,
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
        slack_id = self._slack_of(team_id, kind, str(target))
        return (Assignee(kind=kind, id=slack_id),) if slack_id is not None else ()

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
        return self._slack_of(team_id, AssigneeKind.USER, str(by)) if by else None

    def _slack_of(self, team_id: str, kind: AssigneeKind, theirs: str) -> str | None:
        """Who in Slack a Maxsight user or team is linked to; in a sweep, from the links the
        sweep read at its start (one query, not one per task)."""
        if self._pass_links is not None:
            return self._pass_links.get((team_id, kind.value, theirs))
        link = self._links.by_assignee(team_id, NAME, kind, theirs)
        return link.slack_id if link is not None else None

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        return None  # no users directory is documented: links come from admins or an import


def filter_model(assignee_ids: Sequence[str], *, open_only: bool = False) -> dict[str, Any]:
    """AG Grid filter model: ``assigned_to_id`` equals one of the ids (an ``OR`` for several),
    and with ``open_only`` the ``status`` set filter on ``INCOMPLETE`` (fields are ANDed)."""
    conditions = [{"filterType": "text", "type": "equals", "filter": i} for i in assignee_ids]
    model: dict[str, Any] = {
        "assigned_to_id": conditions[0]
        if len(conditions) == 1
        else {"filterType": "text", "operator": "OR", "conditions": conditions}
    }
    if open_only:
        model["status"] = {"filterType": "set", "values": [OPEN_STATUS]}
    return model


def _is_task(raw: object) -> bool:
    return isinstance(raw, dict) and bool(raw.get("id")) and "updated_at" in raw


def _unchanged(now: Task | None, then: Task) -> bool:
    return now is not None and now.version == then.version


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
