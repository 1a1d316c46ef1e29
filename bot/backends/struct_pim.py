"""Struct PIM UserTasks (``TASK_BACKEND=struct_pim``): tasks in the PIM, driven from Slack.

Contract: seeds 000/001 and ../shared/API-NOTES.md §1. A UserTask has one ``Status`` (0 New,
1 ReOpened, 2 InProgress, 3 AwaitingFeedback, 4 Completed), assigned users (string ids) and user
groups (UUIDs), a ``Deadline`` date-time, comments and attached entities; it has no per-assignee
parts and no MUST_ALL. As for every task API (``bot.backends.mirror``), taskbot keeps the full
domain record and drives the PIM to it: the domain status both ways (4 exactly when the rules
complete the task), the assignees, the deadline, and comments (taskbot's event comments are
written as ordinary comments starting with ``[taskbot]``: the API has no way to mark a comment
system-generated).

Safe readings where the docs are silent (and the README's capability table says so):
- Create and update answer with no body, so taskbot generates every ``Uid`` (tasks, comments).
- Update replaces the whole object: taskbot reads the task, changes it, and writes it back whole.
- A missing or wrong key: 401 is not documented; 401 and 403 both read as "check the key".
- Errors are ProblemDetails: its ``Detail`` (else ``Title``) is shown to the person.
- No rate limit is documented: 429 is retried with backoff (``Retry-After`` if sent).
- ``EntityType`` values are undocumented: they are kept as the PIM sends them.
- A date-only due is written as the end of the working day (18:00) in the assignor's zone.
- Users by email: ``GET /v1/users``, case-insensitive, active users (``Status`` 1) only; more than
  one match is treated as none.
- Sync reads ``AssignedUsers`` and ``AssignedUserGroups`` back (someone not linked leaves the
  assignees as they are). A UserTask says who created it (``CreatedBy``), not who changed it, so
  a status or assignee change made in the PIM is told as made "in Struct PIM".
- No rate limit is documented: the client holds itself to ``STRUCT_PIM_RATE_LIMIT`` calls per
  ``STRUCT_PIM_RATE_WINDOW_SECONDS`` (10 per second by default), shared by every process.

Sync and intake (every ``BACKEND_SYNC_SECONDS``, ``bot.backends.mirror``). What the API allows:
the paged list ``GET /v1/usertasks?page=N`` (``Page``, ``PageSize``, ``Total``; no page-size
parameter, no filter, and a task carries no modified date, only ``Created``), the batch get by
Uid, and nothing that says what changed or was deleted since a moment. The safe reading chosen:
- Each pass walks the list whole (``Total``/``PageSize`` calls: 100 for 10,000 tasks). The walk
  replaces the batch get for every mirrored task it holds: the listed record is compared with
  taskbot's copy at once, so a task seen unchanged costs nothing more, and taskbot's own writes
  read back change nothing.
- A mirrored task the walk did not return (deleted there, or skipped because the pages shifted
  while they were read) is read with the batch get, which alone marks it deleted.
- A task taskbot doesn't have, open (``Status`` < 4), assigned to a linked user or user group,
  and ``Created`` since intake began (the first pass, less ``INTAKE_LOOKBACK``; the mark is kept
  in ``sync_marks``) is taken in: a handle, a card DM to each linked assignee, reminders from its
  ``Deadline``; its creator (``CreatedBy``) is its assignor and author when linked. With no
  modified date, an older task assigned to a linked person later is not taken in.
- Assignees taskbot can't name (not linked) stay assigned when taskbot writes the task back.

Comments both ways: a comment written in Slack is added with a ``Uid`` taskbot chooses (from the
comment's id) and remembered (``storage.comment_links``), so it is never told back. Comments
written in the PIM come at no extra cost: the list walk (or the batch get, for a task it missed)
returns each task's ``Comments``; a new one is posted in the card's thread as
written by the Slack user linked to its ``UserId`` ("someone in Struct PIM" otherwise), an edit
(its ``Comment`` text changed) updates that message, and a comment gone from the list deletes it.
``IsSystemGenerated`` comments are the PIM's own records of events, not anyone's words: they are
not posted (taskbot tells its events itself).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.backends.http import ApiClient
from bot.backends.mirror import (
    INTAKE_LOOKBACK,
    INTAKE_MARK,
    MARK_MARGIN,
    Incoming,
    Listing,
    MirroredBackend,
    RemoteComment,
    RemoteState,
    SyncMarks,
    fingerprint,
)
from bot.domain.errors import BackendUnavailable
from bot.domain.models import (
    Assignee,
    AssigneeKind,
    Attachment,
    AttachmentKind,
    BackendCapabilities,
    Comment,
    Due,
    Status,
    Task,
    TaskDraft,
)
from storage.local_tasks import SqlAlchemyTaskStore
from storage.user_map import SqlAlchemyUserMap

NAME = "struct_pim"
ID_PREFIX = "struct-"
STATUS_CODES = {
    Status.NEW: 0,
    Status.REOPENED: 1,
    Status.IN_PROGRESS: 2,
    Status.AWAITING_FEEDBACK: 3,
    Status.COMPLETED: 4,
}
SYSTEM_PREFIX = "[taskbot] "


def _detail(response: httpx.Response) -> str | None:
    body = response.json()
    if not isinstance(body, dict):
        return None
    found = body.get("Detail") or body.get("Title")
    return str(found) if found else None


def client(url: str, api_key: str, **options: object) -> ApiClient:
    """The key is the whole ``Authorization`` header (no ``Bearer``), as the seed shows."""
    return ApiClient(
        "Struct PIM",
        url,
        headers={"Authorization": api_key, "Accept": "application/json"},
        detail=_detail,
        key_hint="STRUCT_PIM_API_KEY (and its access rights in Settings → API configuration)",
        **options,  # type: ignore[arg-type]
    )


def parse_time(text: str | None) -> datetime | None:
    """Struct's ``2023-01-14T00:00:00.0000000+02:00`` (Python 3.11 reads seven digits)."""
    return datetime.fromisoformat(text) if text else None


def format_time(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


class StructPimBackend(MirroredBackend):
    name = NAME
    prefix = ID_PREFIX
    capabilities = BackendCapabilities(
        multi_assignee=True,
        groups=True,
        must_all_native=False,
        comments=True,
        attachments=True,
        due_time=True,
        user_map=True,
        directory=True,
        assignee_id_example="a Struct user id (or a user group's UUID)",
        label="Struct PIM",
    )

    def __init__(
        self,
        api: ApiClient,
        store: SqlAlchemyTaskStore,
        links: SqlAlchemyUserMap,
        marks: SyncMarks | None = None,
    ):
        super().__init__(store, links, marks)
        self._api = api
        self._api_clients = (api,)

    # --- the task system -------------------------------------------------------------------

    def _push_new(self, draft: TaskDraft) -> str:
        uid = str(uuid.uuid4())
        body = {
            "Uid": uid,
            "Title": draft.title,
            "Description": draft.description,
            "Deadline": format_time(draft.due.instant()) if draft.due else None,
            "AssignedUsers": self.linked(draft.team_id, draft.assignees, AssigneeKind.USER),
            "AssignedUserGroups": self.linked(draft.team_id, draft.assignees, AssigneeKind.GROUP),
            "AttachedEntities": _entities(draft.attachments),
        }
        self._api.request("POST", "v1/usertasks", json=body)
        return uid

    def _push_change(self, before: Task, after: Task) -> None:
        uid = self.external_id(after)
        wanted: dict[str, Any] = {
            "Title": after.title,
            "Description": after.description,
            "Deadline": format_time(after.due.instant()) if after.due else None,
            "Status": STATUS_CODES[after.status],
            "AssignedUsers": self.linked(after.team_id, after.assignees, AssigneeKind.USER),
            "AssignedUserGroups": self.linked(after.team_id, after.assignees, AssigneeKind.GROUP),
        }
        if self._fields(before) != self._fields(after):
            current = self._read(uid)  # PUT replaces the whole task: start from what it holds
            for key, kind in (
                ("AssignedUsers", AssigneeKind.USER),
                ("AssignedUserGroups", AssigneeKind.GROUP),
            ):  # people taskbot can't name (a task taken in) stay assigned
                wanted[key] = [*wanted[key], *self._unlinked(after.team_id, kind, current.get(key))]
            self._api.request("PUT", "v1/usertasks", json={**_writable(current), **wanted})
        self._push_comments(after, before.comments, after.comments)

    def _fields(self, task: Task) -> tuple[object, ...]:
        return (
            task.title,
            task.description,
            task.due.instant() if task.due else None,
            STATUS_CODES[task.status],
            tuple(sorted((a.kind.value, a.id) for a in task.assignees)),
        )

    def _push_comments(
        self, task: Task, before: Sequence[Comment], after: Sequence[Comment]
    ) -> None:
        """Taskbot chooses each comment's ``Uid`` (the API answers with no body), and remembers
        it, so the comment read back is never told in Slack again."""
        uid = self.external_id(task)
        old = {c.id: c for c in before}
        new = {c.id: c for c in after}
        for comment in after:
            if comment.id in old and old[comment.id].text == comment.text:
                continue
            text = _comment_text(comment)
            self._api.request(
                "POST" if comment.id not in old else "PUT",
                f"v1/usertasks/{uid}/comments",
                json={"Uid": _uuid(comment.id), "Comment": text},
            )
            self.remember_comment(task, comment, _uuid(comment.id), text)
        for comment_id in old.keys() - new.keys():
            self._api.request(
                "DELETE",
                f"v1/usertasks/{uid}/comments",
                params={"commentUid": _uuid(comment_id)},
            )

    def _push_delete(self, external_id: str) -> None:
        self._api.request("DELETE", f"v1/usertasks/{external_id}")

    def _fetch(self, external_ids: Sequence[str], tasks: Sequence[Task]) -> dict[str, RemoteState]:
        answer = self._api.json(self._api.request("POST", "v1/usertasks/batch", json=external_ids))
        if not isinstance(answer, builtins.list):
            raise BackendUnavailable("Struct PIM answered a batch get with something not a list.")
        by_id = {self.external_id(t): t for t in tasks}
        self._read_links(tasks)
        found: dict[str, RemoteState] = {}
        for raw in answer:
            if isinstance(raw, dict) and str(raw.get("Uid")) in by_id:
                task = by_id[str(raw["Uid"])]
                assignees = self.slack_assignees(task.team_id, _assigned(raw))
                found[str(raw["Uid"])] = _remote_state(raw, task, assignees)
        return found

    def _unlinked(self, team_id: str, kind: AssigneeKind, ids: object) -> builtins.list[str]:
        """The ids (of a task as the PIM holds it) linked to nobody in the workspace."""
        return [
            str(i)
            for i in (ids if isinstance(ids, builtins.list) else [])
            if self._links.by_assignee(team_id, NAME, kind, str(i)) is None
        ]

    # --- the paged list: changes and intake ------------------------------------------------------

    def _listing(self, now: datetime) -> Listing:
        """Every UserTask of the tenant (the list has no filter and no change date: it is walked
        whole each pass, in place of the batch get of the tasks it holds)."""
        began = self._marks.get(NAME, INTAKE_MARK)
        if began is None:
            began = format_time(now - INTAKE_LOOKBACK)
            self._marks.set(NAME, INTAKE_MARK, began, now)
        found = {str(raw["Uid"]): raw for raw in self.all_tasks() if raw.get("Uid")}
        return Listing(found=found, made_since=datetime.fromisoformat(began) - MARK_MARGIN)

    def _listed_state(self, raw: dict[str, Any], task: Task) -> RemoteState:
        return _remote_state(raw, task, self.slack_assignees(task.team_id, _assigned(raw)))

    def _incoming(self, raw: dict[str, Any]) -> Incoming | None:
        status = next((s for s, c in STATUS_CODES.items() if c == raw.get("Status")), None)
        if status is None or status is Status.COMPLETED:
            return None
        deadline = parse_time(raw.get("Deadline"))
        return Incoming(
            external_id=str(raw["Uid"]),
            title=str(raw.get("Title") or ""),
            description=str(raw.get("Description") or ""),
            due=Due.at(deadline, "UTC") if deadline is not None else None,
            status=status,
            users=tuple(str(u) for u in raw.get("AssignedUsers") or []),
            groups=tuple(str(g) for g in raw.get("AssignedUserGroups") or []),
            creator=str(raw["CreatedBy"]) if raw.get("CreatedBy") is not None else None,
            made_at=parse_time(raw.get("Created")),
            entities=_attached(raw),
        )

    def _own_remote(self, task: Task, found: RemoteComment) -> Comment | None:
        """Every comment taskbot writes has the ``Uid`` it chose from the comment's id."""
        return next((c for c in task.comments if _uuid(c.id) == found.external_id), None)

    def _read(self, uid: str) -> dict[str, Any]:
        found = self._api.json(self._api.request("GET", f"v1/usertasks/{uid}"))
        if not isinstance(found, dict):
            raise BackendUnavailable("Struct PIM answered with something that isn't a task.")
        return found

    def all_tasks(self) -> builtins.list[dict[str, Any]]:
        """Every UserTask of the tenant, page by page (``Page``·``PageSize`` up to ``Total``)."""
        found: builtins.list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._api.json(self._api.request("GET", "v1/usertasks", params={"page": page}))
            tasks = answer.get("UserTasks") or []
            found.extend(tasks)
            size = int(answer.get("PageSize") or len(tasks) or 1)
            if not tasks or page * size >= int(answer.get("Total") or 0):
                return found
            page += 1

    # --- the user map --------------------------------------------------------------------------

    def find_group_by_name(self, team_id: str, name: str) -> str | None:
        """``GET /v1/usergroups``: the one group whose ``Name`` is the Slack handle (any case)."""
        groups = self._api.json(self._api.request("GET", "v1/usergroups"))
        wanted = name.strip().lstrip("@").lower()
        found = [
            g for g in groups if isinstance(g, dict) and str(g.get("Name", "")).lower() == wanted
        ]
        return str(found[0]["Uid"]) if len(found) == 1 else None

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        users = self._api.json(self._api.request("GET", "v1/users"))
        wanted = email.strip().lower()
        found = [
            u
            for u in users
            if isinstance(u, dict)
            and str(u.get("Email", "")).lower() == wanted
            and u.get("Status") == 1
        ]
        return str(found[0]["Uid"]) if len(found) == 1 else None


def _assigned(raw: dict[str, Any]) -> builtins.list[tuple[AssigneeKind, str]]:
    """A task's assignees in the PIM: its users, then its user groups."""
    users = [(AssigneeKind.USER, str(u)) for u in raw.get("AssignedUsers") or []]
    groups = [(AssigneeKind.GROUP, str(g)) for g in raw.get("AssignedUserGroups") or []]
    return users + groups


def _remote_state(
    raw: dict[str, Any], task: Task, assignees: tuple[Assignee, ...] | None = None
) -> RemoteState:
    deadline = parse_time(raw.get("Deadline"))
    due: Due | None = None
    if deadline is not None:
        if task.due is not None and task.due.instant() == deadline:
            due = task.due  # unchanged (also a date-only due written as its end of day)
        else:
            due = Due.at(deadline, task.due.tz if task.due else "UTC")
    return RemoteState(
        title=str(raw.get("Title") or ""),
        description=str(raw.get("Description") or ""),
        due=due,
        complete=raw.get("Status") == STATUS_CODES[Status.COMPLETED],
        entities=_attached(raw),
        assignees=assignees,
        comments=_comments(raw.get("Comments")),
    )


def _attached(raw: dict[str, Any]) -> tuple[Attachment, ...]:
    return tuple(
        Attachment(
            kind=AttachmentKind.ENTITY,
            entity_type=str(e.get("EntityType")),
            entity_id=str(e.get("EntityId")),
        )
        for e in raw.get("AttachedEntities") or []
    )


def _comments(raw: object) -> tuple[RemoteComment, ...] | None:
    """People's comments of a UserTask. ``IsSystemGenerated`` ones are the PIM's own records of
    events, not written by anyone: taskbot tells its events itself, so they are left out."""
    if not isinstance(raw, builtins.list):
        return None  # not read: nothing is taken as deleted
    found: builtins.list[RemoteComment] = []
    for comment in raw:
        if (
            not isinstance(comment, dict)
            or comment.get("IsSystemGenerated")
            or not comment.get("Uid")
        ):
            continue
        text = str(comment.get("Comment") or "")
        author = comment.get("UserId")
        found.append(
            RemoteComment(
                external_id=str(comment["Uid"]),
                text=text,
                fingerprint=fingerprint(text),
                author=str(author) if author not in (None, "") else None,
                created_at=_created(comment.get("Created")),
            )
        )
    return tuple(found)


def _created(text: object) -> datetime | None:
    try:
        moment = parse_time(str(text)) if text else None
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def _writable(current: dict[str, Any]) -> dict[str, Any]:
    """The fields PUT takes, from a task as GET returns it."""
    keys = ("Uid", "Deadline", "Title", "Description", "Status", "AssignedUsers")
    body = {k: current.get(k) for k in keys}
    body["AssignedUserGroups"] = current.get("AssignedUserGroups") or []
    body["AttachedEntities"] = [
        {"EntityType": e.get("EntityType"), "EntityId": e.get("EntityId")}
        for e in current.get("AttachedEntities") or []
    ]
    return body


def _entities(attachments: Sequence[Attachment]) -> builtins.list[dict[str, object]]:
    return [
        {"EntityType": _int_or_text(a.entity_type), "EntityId": a.entity_id}
        for a in attachments
        if a.kind is AttachmentKind.ENTITY and a.entity_id
    ]


def _int_or_text(value: str | None) -> object:
    return int(value) if value and value.isdigit() else value


def _uuid(comment_id: str) -> str:
    try:
        return str(uuid.UUID(comment_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, comment_id))


def _comment_text(comment: Comment) -> str:
    """Who wrote it in Slack is not a PIM user: say so in the text."""
    author = f"@{comment.author}" if comment.author else "someone"
    if comment.system:
        return f"{SYSTEM_PREFIX}{author} {comment.text}"
    return f"{comment.text}\n— {author} in Slack"
