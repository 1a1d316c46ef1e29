"""A local Paymo API simulator: a real HTTP server that answers as Paymo's docs say.

Follows seed 004 and ../shared/API-NOTES.md §4: API key as the Basic-auth user (any password),
JSON bodies wrapped in a list under the object's plural name (``{"tasks": [{…}]}``), 201 with a
``Location`` header on create, ``complete`` to complete or reopen, ``users`` as a list of integer
user ids, ``due_date`` as a date, datetimes in UTC with ``Z``, ``where=`` filters (``=``, ``in``,
``and``), ``/api/userstasks`` assignments (a ``where`` on user_id or task_id is required),
``/api/users`` with emails, comments in one thread per task (``/api/threads?where=task_id…``
with ``include=comments``; ``/api/comments`` create, get, update and delete, HTML ``content``;
``add_comment`` and friends act as Paymo's own UI), errors as ``{"message": …}`` (the shape
third-party clients read), rate-limit headers on every answer, and a sliding window of ``limit``
requests per ``decay`` seconds past which requests are refused with 429 and ``Retry-After``
(``peak`` and ``rejected`` say how close callers came). Faults can be injected.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.stubs.http_server import LocalServer, write_answer

TASK_FIELDS = ("name", "description", "due_date", "users", "complete", "tasklist_id", "priority")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


class PaymoSimulator:
    def __init__(self, api_key: str = "paymo-key", *, limit: int = 1000, decay: float = 5) -> None:
        self.api_key = api_key
        self.limit, self.decay = limit, decay
        self._lock = threading.RLock()
        self.requests: list[Request] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.assignments: dict[int, dict[str, Any]] = {}
        self.threads: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.projects = {7001: {"id": 7001, "name": "Project", "tasklist_id": 8001}}
        self._ids = iter(range(1000, 10**9))
        self._faults: list[tuple[str, int, dict[str, str], bytes]] = []
        self._delay = 0.0
        self._window: list[float] = []
        self.peak = 0  # the most requests served in one window
        self.rejected = 0  # requests refused for the rate limit
        self._http = LocalServer(self._handler())

    # --- set-up and inspection ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{self._http.base}/api/"

    def start(self) -> PaymoSimulator:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def add_user(self, user_id: int, email: str, *, active: bool = True, name: str = "") -> None:
        with self._lock:
            self.users[user_id] = {
                "id": user_id,
                "name": name or email.split("@")[0],
                "email": email,
                "type": "Employee",
                "active": active,
                "timezone": "UTC",
            }

    def make_task(
        self, name: str, users: list[int], *, by: int = 1, due_date: str | None = None
    ) -> int:
        """A task made in Paymo's own UI by user ``by``; its id."""
        with self._lock:
            task_id = next(self._ids)
            stamp = _now()
            self.tasks[task_id] = {
                "id": task_id,
                "name": name,
                "code": f"PR-{task_id}",
                "project_id": 7001,
                "tasklist_id": 8001,
                "description": "",
                "complete": False,
                "completed_on": None,
                "completed_by": None,
                "due_date": due_date,
                "user_id": by,
                "users": list(users),
                "priority": 50,
                "status_id": 1,
                "created_on": stamp,
                "updated_on": stamp,
            }
            for user in users:
                self._assign(user, task_id)
            return task_id

    def edit_task(self, task_id: int, **changes: Any) -> None:
        """A change made in Paymo's own UI."""
        with self._lock:
            self.tasks[task_id].update(changes, updated_on=_now())

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def fail_next(self, method: str, status: int, message: str = "Server error") -> None:
        body = json.dumps({"message": message}).encode()
        self._faults.append((method, status, {}, body))

    def rate_limit_next(self, method: str, retry_after: int = 1) -> None:
        body = json.dumps({"message": "Too Many Requests"}).encode()
        self._faults.append((method, 429, {"Retry-After": str(retry_after)}, body))

    def malformed_next(self, method: str) -> None:
        self._faults.append((method, 200, {}, b"<html>Bad gateway</html>"))

    def set_delay(self, seconds: float) -> None:
        self._delay = seconds

    # --- the API -------------------------------------------------------------------------------

    def _answer(self, request: Request, auth: str | None) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            fault = next((f for f in self._faults if f[0] in (request.method, "*")), None)
            if fault is not None:
                self._faults.remove(fault)
        if self._delay:
            time.sleep(self._delay)
        if fault is not None:
            return fault[1], {**self._rate_headers(), **fault[2]}, fault[3]
        if not self._authorised(auth):
            return 401, self._rate_headers(), _json({"message": "Authentication required"})
        with self._lock:
            refused = self._admit()
            if refused is not None:
                return refused
            try:
                status, headers, data = self._route(request)
            except ValueError as exc:  # a where= Paymo would refuse
                status, headers, data = _error(400, str(exc))
            return status, {**self._rate_headers(), **headers}, data

    def _admit(self) -> tuple[int, dict[str, str], bytes] | None:
        """Count the request in the window, or refuse it: 429 until the window lets it in."""
        now = time.monotonic()
        self._window = [t for t in self._window if now - t < self.decay]
        if len(self._window) >= self.limit:
            self.rejected += 1
            retry = max(1, math.ceil(self._window[0] + self.decay - now))
            headers = {**self._rate_headers(), "Retry-After": str(retry)}
            return 429, headers, _json({"message": "Too Many Requests"})
        self._window.append(now)
        self.peak = max(self.peak, len(self._window))
        return None

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.api_key

    def _route(self, r: Request) -> tuple[int, dict[str, str], bytes]:
        parts = r.path.strip("/").split("/")  # ["api", "tasks", "12"]
        if len(parts) < 2 or parts[0] != "api":
            return _error(404, "Not found")
        kind, ident = parts[1], (parts[2] if len(parts) > 2 else None)
        if ident is not None and not ident.isdigit():
            return _error(404, "Not found")
        number = int(ident) if ident else None
        handler = getattr(self, f"_{kind}_{r.method.lower()}", None)
        if handler is None:
            known = ("tasks", "users", "userstasks", "comments", "threads")
            return _error(405 if kind in known else 404, "Not found")
        result: tuple[int, dict[str, str], bytes] = handler(r, number)
        return result

    def _tasks_get(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        if number is not None:
            if number not in self.tasks:
                return _error(404, "Task not found")
            return 200, {}, _json({"tasks": [self.tasks[number]]})
        where = _where(r.query.get("where", ""))
        found = [t for t in self.tasks.values() if all(_matches(t, w) for w in where)]
        return 200, {}, _json({"tasks": found})

    def _tasks_post(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        if number is not None:
            return self._tasks_put(r, number)
        body = r.body if isinstance(r.body, dict) else {}
        if not body.get("name"):
            return _error(400, "Missing required field: name")
        tasklist = body.get("tasklist_id")
        project = body.get("project_id")
        if tasklist is None and project is None:
            return _error(400, "Missing required field: tasklist_id or project_id")
        if project is not None and project not in self.projects:
            return _error(404, "Project not found")
        users = body.get("users") or []
        unknown = [u for u in users if u not in self.users]
        if unknown:
            return _error(400, f"Invalid users: {unknown}")
        task_id = next(self._ids)
        stamp = _now()
        task = {
            "id": task_id,
            "name": body["name"],
            "code": f"PR-{task_id}",
            "project_id": project or 7001,
            "tasklist_id": tasklist or self.projects[project]["tasklist_id"],
            "description": body.get("description") or "",
            "complete": False,
            "completed_on": None,
            "completed_by": None,
            "due_date": body.get("due_date"),
            "user_id": 1,
            "users": list(users),
            "priority": body.get("priority", 50),
            "status_id": 1,
            "created_on": stamp,
            "updated_on": stamp,
        }
        self.tasks[task_id] = task
        for user in users:
            self._assign(user, task_id)
        return 201, {"Location": f"/api/tasks/{task_id}"}, _json({"tasks": [task]})

    def _tasks_put(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        if number is None or number not in self.tasks:
            return _error(404, "Task not found")
        body = r.body if isinstance(r.body, dict) else {}
        task = self.tasks[number]
        users = body.get("users")
        if users is not None:
            unknown = [u for u in users if u not in self.users]
            if unknown:
                return _error(400, f"Invalid users: {unknown}")
            for assignment in [a for a in self.assignments.values() if a["task_id"] == number]:
                if assignment["user_id"] not in users:
                    del self.assignments[assignment["id"]]
            for user in users:
                if user not in task["users"]:
                    self._assign(user, number)
        for key in TASK_FIELDS:
            if key in body:
                task[key] = body[key]
        if "complete" in body:
            task["completed_on"] = _now() if body["complete"] else None
            task["status_id"] = 3 if body["complete"] else 1  # "Complete" / "Backlog"
        task["updated_on"] = _now()
        return 200, {}, _json({"tasks": [task]})

    def _tasks_delete(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        if number is None or self.tasks.pop(number, None) is None:
            return _error(404, "Task not found")
        for assignment in [a for a in self.assignments.values() if a["task_id"] == number]:
            del self.assignments[assignment["id"]]
        return 200, {}, b""

    def _users_get(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        if number is not None:
            if number not in self.users:
                return _error(404, "User not found")
            return 200, {}, _json({"users": [self.users[number]]})
        where = _where(r.query.get("where", ""))
        found = [u for u in self.users.values() if all(_matches(u, w) for w in where)]
        return 200, {}, _json({"users": found})

    def _userstasks_get(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        if number is not None:
            if number not in self.assignments:
                return _error(404, "Assignment not found")
            return 200, {}, _json({"userstasks": [self.assignments[number]]})
        where = _where(r.query.get("where", ""))
        if not any(w[0] in ("user_id", "task_id") for w in where):
            return _error(400, "You have to specify a where condition: user_id or task_id")
        found = [a for a in self.assignments.values() if all(_matches(a, w) for w in where)]
        return 200, {}, _json({"userstasks": found})

    def _userstasks_post(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        body = r.body if isinstance(r.body, dict) else {}
        user, task = body.get("user_id"), body.get("task_id")
        if user is None or task is None:
            return _error(400, "Missing required fields: user_id and task_id")
        if user not in self.users or task not in self.tasks:
            return _error(404, "User or task not found")
        made = self._assign(user, task)
        if user not in self.tasks[task]["users"]:
            self.tasks[task]["users"].append(user)
            self.tasks[task]["updated_on"] = _now()
        return 201, {"Location": f"/api/userstasks/{made['id']}"}, _json({"userstasks": [made]})

    def _userstasks_delete(
        self, r: Request, number: int | None
    ) -> tuple[int, dict[str, str], bytes]:
        made = self.assignments.pop(number or -1, None)
        if made is None:
            return _error(404, "Assignment not found")
        task = self.tasks.get(made["task_id"])
        if task is not None and made["user_id"] in task["users"]:
            task["users"].remove(made["user_id"])
            task["updated_on"] = _now()
        return 200, {}, b""

    def _comments_post(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        if number is not None:  # POST /api/comments/[ID] updates, as PUT does
            return self._comments_put(r, number)
        body = r.body if isinstance(r.body, dict) else {}
        if not body.get("content"):
            return _error(400, "Missing required field: content")
        thread_id = body.get("thread_id")
        if thread_id is None:
            task_id = body.get("task_id")
            if task_id is None:
                return _error(400, "Missing one of: thread_id, task_id, discussion_id, file_id")
            if task_id not in self.tasks:
                return _error(404, "Task not found")
            thread_id = self._thread_of(task_id)["id"]
        elif thread_id not in self.threads:
            return _error(404, "Thread not found")
        stamp = _now()
        comment = {
            "id": next(self._ids),
            "thread_id": thread_id,
            "user_id": 1,
            "content": body["content"],
            "created_on": stamp,
            "updated_on": stamp,
        }
        self.comments[comment["id"]] = comment
        self.threads[thread_id]["updated_on"] = stamp
        return 201, {"Location": f"/api/comments/{comment['id']}"}, _json({"comments": [comment]})

    def _comments_get(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        if number is not None:
            if number not in self.comments:
                return _error(404, "Comment not found")
            return 200, {}, _json({"comments": [self.comments[number]]})
        where = _where(r.query.get("where", ""))
        found = [c for c in self.comments.values() if all(_matches(c, w) for w in where)]
        return 200, {}, _json({"comments": found})

    def _comments_put(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        """Update: POST or PUT ``/api/comments/[ID]`` with only the changed fields."""
        if number is None or number not in self.comments:
            return _error(404, "Comment not found")
        body = r.body if isinstance(r.body, dict) else {}
        comment = self.comments[number]
        if "content" in body:
            if not body["content"]:
                return _error(400, "Missing required field: content")
            comment.update(content=body["content"], updated_on=_now())
            self.threads[comment["thread_id"]]["updated_on"] = comment["updated_on"]
        return 200, {}, _json({"comments": [comment]})

    def _comments_delete(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        comment = self.comments.pop(number or -1, None)
        if comment is None:
            return _error(404, "Comment not found")
        return 200, {}, b""

    # --- what people do in Paymo's own UI ---------------------------------------------------

    def add_comment(self, task_id: int, user_id: int, content: str) -> int:
        """A comment written in Paymo (HTML content) by one of its users; its id."""
        with self._lock:
            thread = self._thread_of(task_id)
            stamp = _now()
            comment = {
                "id": next(self._ids),
                "thread_id": thread["id"],
                "user_id": user_id,
                "content": content,
                "created_on": stamp,
                "updated_on": stamp,
            }
            self.comments[comment["id"]] = comment
            thread["updated_on"] = stamp
            return int(comment["id"])

    def edit_comment(self, comment_id: int, content: str) -> None:
        with self._lock:
            self.comments[comment_id].update(content=content, updated_on=_now())

    def delete_comment(self, comment_id: int) -> None:
        with self._lock:
            del self.comments[comment_id]

    def _thread_of(self, task_id: int) -> dict[str, Any]:
        """The task's comments thread, made with its first comment."""
        thread = next((t for t in self.threads.values() if t["task_id"] == task_id), None)
        if thread is None:
            stamp = _now()
            thread = {
                "id": next(self._ids),
                "project_id": self.tasks[task_id]["project_id"],
                "task_id": task_id,
                "created_on": stamp,
                "updated_on": stamp,
            }
            self.threads[thread["id"]] = thread
        return thread

    def _threads_get(self, r: Request, number: int | None) -> tuple[int, dict[str, str], bytes]:
        where = _where(r.query.get("where", ""))
        found = []
        for thread in self.threads.values():
            if all(_matches(thread, w) for w in where):
                shown = dict(thread)
                if "comments" in r.query.get("include", ""):
                    shown["comments"] = [
                        c for c in self.comments.values() if c["thread_id"] == thread["id"]
                    ]
                found.append(shown)
        return 200, {}, _json({"threads": found})

    def _task_comments(self, task_id: int) -> list[str]:
        """The contents of a task's comments (for tests)."""
        threads = {t["id"] for t in self.threads.values() if t["task_id"] == task_id}
        return [c["content"] for c in self.comments.values() if c["thread_id"] in threads]

    def _assign(self, user: int, task: int) -> dict[str, Any]:
        for existing in self.assignments.values():
            if existing["user_id"] == user and existing["task_id"] == task:
                return existing
        stamp = _now()
        made = {
            "id": next(self._ids),
            "user_id": user,
            "task_id": task,
            "created_on": stamp,
            "updated_on": stamp,
        }
        self.assignments[made["id"]] = made
        return made

    def _rate_headers(self) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            remaining = max(0, self.limit - sum(now - t < self.decay for t in self._window))
        return {
            "X-Ratelimit-Decay-Period": f"{self.decay:g}",
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(remaining),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(split.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if raw and "json" not in (self.headers.get("Content-Type") or ""):
                    self._send(415, {}, _json({"message": "Send a Content-Type"}))
                    return
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._send(400, {}, _json({"message": "Invalid JSON"}))
                    return
                request = Request(self.command, split.path, query, body)
                status, headers, data = simulator._answer(
                    request, self.headers.get("Authorization")
                )
                self._send(status, headers, data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
                write_answer(self, status, data, headers)

        return Handler


_CONDITION = re.compile(
    r"^\s*(\w+)\s*(=|!=|<>|>=|<=|>|<|\s+in\s+|\s+not\s+in\s+)\s*(.+?)\s*$", re.I
)


def _where(text: str) -> list[tuple[str, str, Any]]:
    """``complete=false and id in (1,2)`` → [(field, operator, value), …]."""
    found = []
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.I) if text.strip() else []:
        match = _CONDITION.match(clause)
        if match is None:
            raise ValueError(f"Invalid where condition: {clause}")
        field, op, raw = match.group(1), match.group(2).strip().lower(), match.group(3)
        if op in ("in", "not in"):
            value: Any = [_value(v) for v in raw.strip("()").split(",") if v.strip()]
        else:
            value = _value(raw)
        found.append((field, op, value))
    return found


def _value(raw: str) -> Any:
    text = raw.strip().strip('"').strip("'")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return int(text) if text.lstrip("-").isdigit() else text


DATETIMES = ("created_on", "updated_on", "completed_on")
COMPARE = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _unix(text: Any) -> int | None:
    return int(datetime.fromisoformat(str(text)).timestamp()) if text else None


def _matches(item: dict[str, Any], condition: tuple[str, str, Any]) -> bool:
    field, op, value = condition
    actual = item.get(field)
    if field == "users" and isinstance(actual, list):  # users=ID: assigned to that user
        if op in ("in", "not in"):  # assigned to any of them
            return any(u in value for u in actual) is (op == "in")
        return value in actual if op == "=" else value not in actual
    if field in DATETIMES and op in COMPARE:  # datetime filters take Unix timestamps
        if not isinstance(value, int):
            raise ValueError(f"{field} filters take a Unix timestamp")
        stamp = _unix(actual)
        return stamp is not None and bool(COMPARE[op](stamp, value))
    if op == "=":
        return actual == value
    if op in ("!=", "<>"):
        return actual != value
    if op == "in":
        return actual in value
    if op == "not in":
        return actual not in value
    return False


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {}, _json({"message": message})


@contextmanager
def paymo_simulator(api_key: str = "paymo-key") -> Iterator[PaymoSimulator]:
    simulator = PaymoSimulator(api_key).start()
    try:
        yield simulator
    finally:
        simulator.stop()
