"""A local LINE WORKS simulator: the OAuth token endpoint and the Task API 2.0, as seed 002 and
../shared/API-NOTES.md §2 document.

Token endpoint (``POST /oauth2/v2.0/token``, form): ``authorization_code`` (a code works once)
and ``refresh_token`` grants, answering ``access_token``, ``refresh_token``, ``expires_in``.
API (``/v1.0``): ``Authorization: Bearer <token>`` (401 ``UNAUTHORIZED`` when unknown or expired);
create ``POST /users/{userId}/tasks`` → 201 with the task (unwrapped, as the seed's example; or
wrapped in ``{"task": …}``, switchable); list ``GET /users/{userId}/tasks`` with the required
``categoryId``, ``count``, ``cursor``, ``status``; ``GET/PATCH/DELETE /tasks/{taskId}``;
``POST /tasks/{id}/complete|incomplete`` and ``/tasks/{id}/assignees/{userId}/complete|incomplete``
→ 204, with ``ANY_ONE``/``MUST_ALL`` applied natively; ``GET /users/{id or email}``; errors
``{code, description}``; 60 requests per minute per operation (a sliding window), then 429 with
``rateLimit-reset`` (``peak`` and ``rejected`` say how close callers came, per operation).
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.stubs.http_server import LocalServer, write_answer


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    token: str | None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class LineWorksSimulator:
    def __init__(
        self,
        client_id: str = "lw-client",
        client_secret: str = "lw-secret",
        *,
        per_minute: int = 60,
        window: float = 60.0,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.per_minute, self.window = per_minute, window
        self.token_lifetime = 3600
        self.wrapped = False
        self._lock = threading.RLock()
        self.requests: list[Request] = []
        self.users: dict[str, str] = {}  # userId → email
        self.tasks: dict[str, dict[str, Any]] = {}
        self.categories: dict[str, str] = {"default": "Tasks"}  # categoryId → name
        self._codes: dict[str, str] = {}  # code → userId
        self._access: dict[str, tuple[str, float]] = {}  # token → (userId, expiry)
        self._refresh: dict[str, str] = {}  # refresh token → userId
        self._calls: dict[str, list[float]] = {}
        self.peak: dict[str, int] = {}  # operation → the most calls served in one window
        self.rejected: dict[str, int] = {}  # operation → calls refused for the rate limit
        self._http = LocalServer(self._handler())

    @property
    def base(self) -> str:
        return self._http.base

    @property
    def api_url(self) -> str:
        return f"{self._http.base}/v1.0/"

    @property
    def auth_url(self) -> str:
        return f"{self._http.base}/oauth2/v2.0/"

    def start(self) -> LineWorksSimulator:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    # --- set-up and inspection ---------------------------------------------------------------

    def add_user(self, user_id: str, email: str) -> None:
        self.users[user_id] = email

    def issue_code(self, user_id: str) -> str:
        """What the authorize page gives after the person consents."""
        code = secrets.token_urlsafe(8)
        self._codes[code] = user_id
        return code

    def refresh_token_for(self, user_id: str) -> str:
        token = secrets.token_urlsafe(12)
        self._refresh[token] = user_id
        return token

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access = {t: (u, 0.0) for t, (u, _) in self._access.items()}

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    # --- OAuth ---------------------------------------------------------------------------------

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return 401, {}, {"error": "invalid_client"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            user = self._codes.pop(form.get("code", ""), None)  # single use
        elif grant == "refresh_token":
            user = self._refresh.get(form.get("refresh_token", ""))
        else:
            return 400, {}, {"error": "unsupported_grant_type"}
        if user is None:
            return 400, {}, {"error": "invalid_grant"}
        access = secrets.token_urlsafe(16)
        self._access[access] = (user, time.time() + self.token_lifetime)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": str(self.token_lifetime),
            "scope": "task user.email.read",
        }
        if grant == "authorization_code":
            answer["refresh_token"] = self.refresh_token_for(user)
        return 200, {}, answer

    # --- the Task API --------------------------------------------------------------------------

    def _answer(self, r: Request) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append(r)
            if r.path == "/oauth2/v2.0/token" and r.method == "POST":
                return self._token(r.body or {})
            holder = self._access.get(r.token or "")
            if holder is None or holder[1] < time.time():
                return 401, {}, {"code": "UNAUTHORIZED", "description": "Authentication failed"}
            me = holder[0]
            parts = [unquote(p) for p in r.path.removeprefix("/v1.0/").strip("/").split("/")]
            operation = self._operation(r.method, parts)
            limited = self._limit(operation)
            if limited is not None:
                return limited
            status, headers, answer = self._route(r, parts, me)
            now = time.monotonic()
            counted = [t for t in self._calls[operation] if now - t < self.window]
            return status, {**self._rate_headers(counted, now), **headers}, answer

    def _operation(self, method: str, parts: list[str]) -> str:
        shape = ["{id}" if i % 2 else p for i, p in enumerate(parts)]
        return f"{method} /{'/'.join(shape)}"

    def _limit(self, operation: str) -> tuple[int, dict[str, str], Any] | None:
        now = time.monotonic()
        window = [t for t in self._calls.get(operation, []) if now - t < self.window]
        if len(window) >= self.per_minute:
            self._calls[operation] = window
            self.rejected[operation] = self.rejected.get(operation, 0) + 1
            return (
                429,
                self._rate_headers(window, now),
                {"code": "TOO_MANY_REQUESTS", "description": "API rate limit exceeded"},
            )
        self._calls[operation] = [*window, now]
        self.peak[operation] = max(self.peak.get(operation, 0), len(window) + 1)
        return None

    def _rate_headers(self, window: list[float], now: float) -> dict[str, str]:
        """``rateLimit-*``: the limit, calls left, seconds until the oldest leaves the window."""
        reset = max(1, math.ceil(self.window - (now - window[0]))) if window else 0
        return {
            "rateLimit-limit": str(self.per_minute),
            "rateLimit-remaining": str(max(0, self.per_minute - len(window))),
            "rateLimit-reset": str(reset),
        }

    def _route(self, r: Request, parts: list[str], me: str) -> tuple[int, dict[str, str], Any]:
        if parts[0] == "users" and len(parts) == 2 and r.method == "GET":
            return self._user(parts[1], me)
        if parts[0] == "users" and len(parts) == 3 and parts[2] == "task-categories":
            listed = [{"categoryId": k, "categoryName": v} for k, v in self.categories.items()]
            return 200, {}, {"taskCategories": listed}
        if parts[0] == "users" and len(parts) == 3 and parts[2] == "tasks":
            owner = me if parts[1] == "me" else parts[1]
            if r.method == "POST":
                return self._create(owner, r.body or {})
            if r.method == "GET":
                return self._list(owner, r.query)
        if parts[0] == "tasks" and len(parts) >= 2:
            task = self.tasks.get(parts[1])
            if task is None:
                return 404, {}, {"code": "NOT_FOUND", "description": "Task not found"}
            if len(parts) == 2:
                if r.method == "GET":
                    return 200, {}, {"task": task}
                if r.method == "PATCH":
                    return self._patch(task, r.body or {})
                if r.method == "DELETE":
                    del self.tasks[parts[1]]
                    return 204, {}, None
            if len(parts) == 3 and parts[2] in ("complete", "incomplete") and r.method == "POST":
                done = parts[2] == "complete"
                for assignee in task["assignees"]:
                    assignee["status"] = "DONE" if done else "TODO"
                task["status"] = "DONE" if done else "TODO"
                task["modifiedTime"] = _now()
                return 204, {}, None
            if len(parts) == 5 and parts[2] == "assignees" and r.method == "POST":
                return self._assignee_status(task, parts[3], parts[4] == "complete")
        return 404, {}, {"code": "NOT_FOUND", "description": f"No {r.method} {r.path}"}

    def _user(self, key: str, me: str) -> tuple[int, dict[str, str], Any]:
        user = me if key == "me" else key
        if user not in self.users:
            user = next((u for u, e in self.users.items() if e.lower() == key.lower()), "")
        if not user:
            return 404, {}, {"code": "RESOURCE_NOT_FOUND", "description": "User not found"}
        return 200, {}, {"userId": user, "email": self.users[user]}

    def _create(self, owner: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        missing = [
            k
            for k in ("assignorId", "assignees", "title", "content", "completionCondition")
            if k not in body
        ]
        if missing:
            return 400, {}, {"code": "MISSING_PARAMETER", "description": f"Missing {missing}"}
        if (body.get("categoryId") or "default") not in self.categories:
            return 404, {}, {"code": "CATEGORY_NOT_EXIST", "description": "No such category"}
        if body["completionCondition"] not in ("ANY_ONE", "MUST_ALL"):
            return 400, {}, {"code": "INVALID_PARAMETER", "description": "completionCondition"}
        unknown = [a["assigneeId"] for a in body["assignees"] if a["assigneeId"] not in self.users]
        if unknown or any(a.get("status") != "TODO" for a in body["assignees"]):
            return 400, {}, {"code": "INVALID_PARAMETER", "description": f"assignees {unknown}"}
        stamp = _now()
        task = {
            "taskId": str(uuid.uuid4()),
            "title": body["title"],
            "content": body["content"],
            "assignorId": body["assignorId"],
            "assignorName": body["assignorId"],
            "assignees": [_assignee(a["assigneeId"]) for a in body["assignees"]],
            "completionCondition": body["completionCondition"],
            "dueDate": body.get("dueDate"),
            "status": "TODO",
            "categoryId": body.get("categoryId") or "default",
            "owner": owner,
            "createdTime": stamp,
            "modifiedTime": stamp,
            "resourceLocation": 24101,
        }
        self.tasks[task["taskId"]] = task
        return 201, {}, {"task": task} if self.wrapped else task

    def _list(self, owner: str, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if "categoryId" not in query:
            return 400, {}, {"code": "MISSING_PARAMETER", "description": "categoryId"}
        count = int(query.get("count", "50"))
        if not 0 <= count <= 100:
            return 400, {}, {"code": "OUT_OF_RANGE", "description": "count"}
        mine = [
            t
            for t in self.tasks.values()
            if (t["owner"] == owner or any(a["assigneeId"] == owner for a in t["assignees"]))
            and (query.get("status") == "ALL" or t["status"] == "TODO")
        ]
        start = int(query.get("cursor") or 0)
        page = mine[start : start + count]
        more = start + count < len(mine)
        return (
            200,
            {},
            {
                "tasks": page,
                "responseMetaData": {"nextCursor": str(start + count) if more else None},
            },
        )

    def _patch(self, task: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        for key in ("title", "content", "dueDate", "assignorId"):
            if key in body:
                task[key] = body[key]
        if "assignees" in body:
            old = {a["assigneeId"]: a for a in task["assignees"]}
            task["assignees"] = [
                old.get(a["assigneeId"])
                or {
                    "assigneeId": a["assigneeId"],
                    "assigneeName": a["assigneeId"],
                    "status": "TODO",
                }
                for a in body["assignees"]
            ]
        if "completionCondition" in body:
            if len(task["assignees"]) < 2:
                return (
                    400,
                    {},
                    {
                        "code": "INVALID_PARAMETER",
                        "description": "completionCondition needs two or more assignees",
                    },
                )
            task["completionCondition"] = body["completionCondition"]
        self._settle(task)
        task["modifiedTime"] = _now()
        return 200, {}, {"task": task} if self.wrapped else task

    def _assignee_status(
        self, task: dict[str, Any], user: str, done: bool
    ) -> tuple[int, dict[str, str], Any]:
        for assignee in task["assignees"]:
            if assignee["assigneeId"] == user:
                assignee["status"] = "DONE" if done else "TODO"
                self._settle(task)
                task["modifiedTime"] = _now()
                return 204, {}, None
        return 404, {}, {"code": "NOT_FOUND", "description": "Not an assignee"}

    def _settle(self, task: dict[str, Any]) -> None:
        """The task's status from its assignees', by its completion condition."""
        states = [a["status"] == "DONE" for a in task["assignees"]]
        done = any(states) if task["completionCondition"] == "ANY_ONE" else all(states)
        task["status"] = "DONE" if states and done else "TODO"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(split.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                kind = self.headers.get("Content-Type") or ""
                body: Any
                if "form" in kind:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                else:
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        body = None
                auth = self.headers.get("Authorization") or ""
                token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
                request = Request(self.command, split.path, query, body, token)
                status, headers, answer = simulator._answer(request)
                data = b"" if answer is None else json.dumps(answer).encode()
                write_answer(self, status, data, headers)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        return Handler


def _assignee(user: str) -> dict[str, str]:
    return {"assigneeId": user, "assigneeName": user, "status": "TODO"}


@contextmanager
def lineworks_simulator() -> Iterator[LineWorksSimulator]:
    simulator = LineWorksSimulator().start()
    try:
        yield simulator
    finally:
        simulator.stop()
