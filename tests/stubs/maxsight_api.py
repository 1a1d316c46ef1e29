"""A local Maxsight v5 tasks simulator: a real HTTP server answering as seed 003 and
../shared/API-NOTES.md §3 document.

``apikey`` header (401 without the right one); ``GET /v5/tasks/{id}`` (404 "Task not found");
``POST /v5/tasks/search`` with an AG-Grid ``filter_model`` (``text`` conditions — ``equals``,
``notEqual``, ``blank``, ``notBlank`` evaluated, the other documented operators accepted — ``set``
with ``values``, and ``OR``/``AND`` of ``conditions``, on any field, e.g. ``assigned_to_id`` or
``status``; an invalid model — unknown filter type or operator, a combination without its
``operator`` or ``conditions`` — is a 400, as the docs say), ``max_page_size``, ``page_token``
(opaque; an unknown one is a 400), ``sorting_field``/``sorting_type``;
``PUT /v5/tasks/{id}/update-assignment`` with ``If-Match`` equal to the task's exact
``updated_at`` (409 "Version mismatch" otherwise), ``update`` (USER or TEAM) or ``unassign``,
answering the updated task with a new ``updated_at``. Tasks are made by ``add_task`` (Maxsight's
workflows); there is no create, complete or delete. The error body is not documented:
``{"message": …}`` is chosen here. Faults can be injected.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.stubs.http_server import LocalServer, write_answer

SORT_FIELDS = {
    "TASK_ID": "id",
    "CREATED_AT": "created_at",
    "ENTITY_ID": "entity_id",
    "ASSESSMENT_ID": "assessment_id",
    "STATUS": "status",
    "ASSIGNED_TO_ID": "assigned_to_id",
}


TEXT = (
    "equals",
    "notEqual",
    "contains",
    "notContains",
    "startsWith",
    "endsWith",
    "blank",
    "notBlank",
)
COMPARE = ("lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual", "inRange")
FILTER_TYPES = {
    "text": TEXT,
    "number": (*TEXT, *COMPARE),
    "date": ("equals", "notEqual", "blank", "notBlank", *COMPARE),
}
PAGE_TOKEN = "page-"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class MaxsightSimulator:
    def __init__(self, api_key: str = "maxsight-key") -> None:
        self.api_key = api_key
        self._lock = threading.RLock()
        self.requests: list[Request] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self._clock = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
        self._faults: list[tuple[str, int]] = []
        self._last: tuple[Any, list[dict[str, Any]]] | None = None
        self._http = LocalServer(self._handler())

    @property
    def url(self) -> str:
        return f"{self._http.base}/"

    def start(self) -> MaxsightSimulator:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def _stamp(self) -> str:
        self._clock += timedelta(seconds=1, microseconds=123)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def add_task(
        self,
        name: str,
        *,
        assigned_to: str | None = None,
        kind: str = "USER",
        by: str | None = None,
        status: str = "INCOMPLETE",
    ) -> str:
        """A task that one of Maxsight's workflows made (assigned by ``by``, else by its
        assignee)."""
        task_id = str(uuid.uuid4())
        stamp = self._stamp()
        self.tasks[task_id] = {
            "id": task_id,
            "name": name,
            "c_name": name.lower().replace(" ", "_"),
            "step_name": "Review",
            "status": status,
            "assignment": None
            if assigned_to is None
            else {
                "assigned_by_id": by or assigned_to,
                "assigned_to_id": assigned_to,
                "assigned_to_type": kind,
                "assignment_comment": None,
            },
            "entity_id": str(uuid.uuid4()),
            "institution_id": str(uuid.uuid4()),
            "assessment_id": str(uuid.uuid4()),
            "assessment_template_id": str(uuid.uuid4()),
            "workflow_instance_id": str(uuid.uuid4()),
            "microfrontend_id": None,
            "custom_metadata": {},
            "data_version": 1,
            "locked_at": None,
            "created_at": stamp,
            "updated_at": stamp,
        }
        return task_id

    def assign_in_maxsight(self, task_id: str, to: str | None, by: str, kind: str = "USER") -> None:
        """Someone changes the assignment in Maxsight's own UI (``to`` None: unassigns)."""
        with self._lock:
            self.tasks[task_id]["assignment"] = (
                None
                if to is None
                else {
                    "assigned_by_id": by,
                    "assigned_to_id": to,
                    "assigned_to_type": kind,
                    "assignment_comment": None,
                }
            )
            self.tasks[task_id]["updated_at"] = self._stamp()

    def fail_next(self, method: str, status: int) -> None:
        self._faults.append((method, status))

    def calls(self, method: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    # --- the API -------------------------------------------------------------------------------

    def _answer(self, r: Request) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(r)
            fault = next((f for f in self._faults if f[0] == r.method), None)
            if fault is not None:
                self._faults.remove(fault)
                return fault[1], {"message": "Injected failure"}
            if r.headers.get("apikey") != self.api_key:
                return 401, {"message": "Unauthorized"}
            parts = r.path.strip("/").split("/")
            if parts[:2] != ["v5", "tasks"]:
                return 404, {"message": "Not found"}
            if parts[2:] == ["search"] and r.method == "POST":
                return self._search(r.body if isinstance(r.body, dict) else {})
            if len(parts) == 3 and r.method == "GET":
                task = self.tasks.get(parts[2])
                return (200, task) if task else (404, {"message": "Task not found"})
            if len(parts) == 4 and parts[3] == "update-assignment" and r.method == "PUT":
                return self._assign(parts[2], r)
            return 404, {"message": "Not found"}

    def _search(self, body: dict[str, Any]) -> tuple[int, Any]:
        model = body.get("filter_model")
        problem = _invalid_model(model)
        if problem:
            return 400, {"message": f"Invalid filter_model: {problem}"}
        field = SORT_FIELDS.get(body.get("sorting_field") or "CREATED_AT")
        if field is None:
            return 400, {"message": "Invalid sorting_field"}
        found = self._matching(model, field, body.get("sorting_type") == "DESC")
        size = body.get("max_page_size") or 50
        if not isinstance(size, int) or size < 1:
            return 400, {"message": "Invalid max_page_size"}
        token = body.get("page_token")
        if token is not None and not (isinstance(token, str) and token.startswith(PAGE_TOKEN)):
            return 400, {"message": "Invalid page_token"}
        start = int(token.removeprefix(PAGE_TOKEN)) if token else 0
        page = found[start : start + size]
        more = start + size < len(found)
        return 200, {
            "items": page,
            "next_page_token": f"{PAGE_TOKEN}{start + size}" if more else None,
        }

    def _matching(self, model: Any, field: str, descending: bool) -> list[dict[str, Any]]:
        """The sorted matches, kept while the tasks are as they were (later pages of a search
        over thousands of tasks read them again)."""
        key = (json.dumps(model, sort_keys=True), field, descending, self._state())
        if self._last is None or self._last[0] != key:
            found = [t for t in self.tasks.values() if _passes(t, model)]
            found.sort(key=lambda t: str(_field(t, field)), reverse=descending)
            self._last = (key, found)
        return self._last[1]

    def _state(self) -> tuple[int, str]:
        """Changes to the tasks (through the API or the test's helpers) alter this."""
        digest = hashlib.sha1()
        for t in self.tasks.values():
            digest.update(f"{t.get('updated_at')}{t.get('status')}{t.get('assignment')}".encode())
        return len(self.tasks), digest.hexdigest()

    def _assign(self, task_id: str, r: Request) -> tuple[int, Any]:
        task = self.tasks.get(task_id)
        if task is None:
            return 404, {"message": "Task not found"}
        if r.headers.get("if-match") != task["updated_at"]:
            return 409, {"message": "Version mismatch"}
        body = r.body if isinstance(r.body, dict) else {}
        if "update" in body:
            update = body["update"]
            missing = [
                k
                for k in ("assigned_by_id", "assigned_to_id", "assigned_to_type")
                if not update.get(k)
            ]
            if missing or update.get("assigned_to_type") not in ("USER", "TEAM"):
                return 400, {"message": f"Invalid update: {missing or 'assigned_to_type'}"}
            task["assignment"] = {
                "assigned_by_id": update["assigned_by_id"],
                "assigned_to_id": update["assigned_to_id"],
                "assigned_to_type": update["assigned_to_type"],
                "assignment_comment": update.get("assignment_comment"),
            }
        elif "unassign" in body:
            if not (body["unassign"] or {}).get("assigned_by_id"):
                return 400, {"message": "Invalid unassign: assigned_by_id"}
            task["assignment"] = None
        else:
            return 400, {"message": "Send update or unassign"}
        task["updated_at"] = self._stamp()
        return 200, task

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    write_answer(self, 400, b'{"message": "Invalid JSON"}', {})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.command, urlsplit(self.path).path, headers, body)
                status, answer = simulator._answer(request)
                write_answer(self, status, json.dumps(answer).encode(), {})

            do_GET = do_POST = do_PUT = _serve

        return Handler


def _field(task: dict[str, Any], name: str) -> Any:
    if name in ("assigned_to_id", "assigned_to_type", "assigned_by_id"):
        return (task.get("assignment") or {}).get(name)
    return task.get(name)


def _invalid_model(model: Any) -> str | None:
    """What makes a filter model invalid (AG Grid's shapes), or None."""
    if model is None:
        return None
    if not isinstance(model, dict):
        return "not an object"
    for name, condition in model.items():
        problem = _invalid_condition(condition)
        if problem:
            return f"{name}: {problem}"
    return None


def _invalid_condition(condition: Any) -> str | None:
    if not isinstance(condition, dict):
        return "a condition must be an object"
    if "conditions" in condition or "operator" in condition:
        parts = condition.get("conditions")
        if condition.get("operator") not in ("AND", "OR"):
            return "operator must be AND or OR"
        if not isinstance(parts, list) or not parts:
            return "conditions must be a non-empty list"
        return next(filter(None, (_invalid_condition(c) for c in parts)), None)
    kind = condition.get("filterType")
    if kind == "set":
        return None if isinstance(condition.get("values"), list) else "set needs values"
    if kind not in FILTER_TYPES:
        return f"unknown filterType {kind!r}"
    if condition.get("type") not in FILTER_TYPES[kind]:
        return f"unknown {kind} type {condition.get('type')!r}"
    return None


def _passes(task: dict[str, Any], model: dict[str, Any] | None) -> bool:
    """AG Grid filter model: {field: {filterType, type, filter} | {operator, conditions}}."""
    for name, condition in (model or {}).items():
        if not _condition(_field(task, name), condition):
            return False
    return True


def _condition(value: Any, condition: dict[str, Any]) -> bool:
    if "conditions" in condition:
        results = [_condition(value, c) for c in condition["conditions"]]
        return all(results) if condition.get("operator") == "AND" else any(results)
    kind, wanted = condition.get("type"), condition.get("filter")
    if kind == "equals":
        return bool(value == wanted)
    if kind == "notEqual":
        return bool(value != wanted)
    if kind == "blank":
        return value in (None, "")
    if kind == "notBlank":
        return value not in (None, "")
    if condition.get("filterType") == "set":
        return value in (condition.get("values") or [])
    return False


@contextmanager
def maxsight_simulator(api_key: str = "maxsight-key") -> Iterator[MaxsightSimulator]:
    simulator = MaxsightSimulator(api_key).start()
    try:
        yield simulator
    finally:
        simulator.stop()
