"""A local Struct PIM UserTasks simulator: a real HTTP server answering as seeds 000/001 and
../shared/API-NOTES.md §1 document.

The API key is the whole ``Authorization`` header (no ``Bearer``); create and update answer 200
with no body (the task's ``Uid`` is the caller's); update is ``PUT /v1/usertasks`` with the Uid
in the body and replaces the whole task; the list is paged (``page``; ``Page``, ``PageSize``,
``Total``, ``UserTasks``); batch get takes a JSON array of Uids; comments are added, edited and
deleted (``commentUid`` query parameter); dates carry seven fractional digits and an offset;
``Status`` is 0–4; errors are ProblemDetails (``Type, Title, Status, Detail, Instance``).
Undocumented behaviour, chosen safely: a missing or wrong key gets 401 ProblemDetails; an unknown
task 404 ProblemDetails; an unknown user or group id 400. Faults can be injected.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.stubs.http_server import LocalServer, write_answer


def struct_time(moment: datetime | None = None) -> str:
    """``2023-01-14T00:00:00.0000000+02:00``: seven fractional digits and an offset."""
    moment = moment or datetime.now(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    offset = moment.strftime("%z")
    return f"{base}.{moment.microsecond:06d}0{offset[:3]}:{offset[3:]}"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


class StructPimSimulator:
    def __init__(self, api_key: str = "struct-key", *, page_size: int = 100) -> None:
        self.api_key = api_key
        self.page_size = page_size
        self._lock = threading.RLock()
        self.requests: list[Request] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self._faults: list[tuple[str, int, bytes]] = []
        self._delay = 0.0
        self._http = LocalServer(self._handler())

    @property
    def url(self) -> str:
        return f"{self._http.base}/"

    def start(self) -> StructPimSimulator:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    # --- set-up and inspection ---------------------------------------------------------------

    def add_user(self, uid: str, email: str, *, status: int = 1) -> None:
        first, _, last = email.split("@")[0].partition(".")
        self.users[uid] = {
            "Uid": uid,
            "Email": email,
            "Firstname": first,
            "Lastname": last,
            "Status": status,
            "UserGroups": [],
            "Roles": [],
        }

    def add_group(self, uid: str, name: str) -> None:
        stamp = struct_time()
        self.groups[uid] = {
            "Uid": uid,
            "Name": name,
            "Created": stamp,
            "LastModified": stamp,
            "CreatedBy": "1",
            "LastModifiedBy": "1",
            "Languages": [],
            "Segments": [],
            "BusinessUnits": [],
        }

    def make_task(
        self,
        title: str,
        users: list[str],
        groups: list[str] | None = None,
        *,
        by: str = "1",
        deadline: datetime | None = None,
        status: int = 0,
    ) -> str:
        """A task made in Struct PIM's own UI by user ``by``; its Uid."""
        uid = str(uuid.uuid4())
        with self._lock:
            self.tasks[uid] = {
                "Uid": uid,
                "Created": struct_time(),
                "CreatedBy": by,
                "Deadline": struct_time(deadline) if deadline else None,
                "Title": title,
                "Description": "",
                "Status": status,
                "AssignedUsers": list(users),
                "AssignedUserGroups": list(groups or []),
                "Comments": [],
                "AttachedEntities": [],
            }
        return uid

    def edit_task(self, uid: str, **changes: Any) -> None:
        """A change made in Struct's own UI."""
        with self._lock:
            self.tasks[uid].update(changes)

    def add_comment(self, uid: str, user_id: str, text: str, *, system: bool = False) -> str:
        """A comment written in the PIM by one of its users (or one it generated); its Uid."""
        with self._lock:
            stamp = struct_time()
            comment_uid = str(uuid.uuid4())
            self.tasks[uid]["Comments"].append(
                {
                    "Uid": comment_uid,
                    "Comment": text,
                    "UserId": user_id,
                    "Name": self.users.get(user_id, {}).get("Firstname", "System"),
                    "Created": stamp,
                    "LastModified": stamp,
                    "IsSystemGenerated": system,
                }
            )
            return comment_uid

    def edit_comment(self, uid: str, comment_uid: str, text: str) -> None:
        with self._lock:
            for comment in self.tasks[uid]["Comments"]:
                if comment["Uid"] == comment_uid:
                    comment.update(Comment=text, LastModified=struct_time())

    def delete_comment(self, uid: str, comment_uid: str) -> None:
        with self._lock:
            task = self.tasks[uid]
            task["Comments"] = [c for c in task["Comments"] if c["Uid"] != comment_uid]

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def fail_next(self, method: str, status: int, detail: str = "Something went wrong") -> None:
        self._faults.append((method, status, _problem(status, "Server error", detail)[2]))

    def malformed_next(self, method: str) -> None:
        self._faults.append((method, 200, b"{not json"))

    def set_delay(self, seconds: float) -> None:
        self._delay = seconds

    # --- the API -------------------------------------------------------------------------------

    def _answer(self, request: Request, auth: str | None) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append(request)
            fault = next((f for f in self._faults if f[0] in (request.method, "*")), None)
            if fault is not None:
                self._faults.remove(fault)
        if self._delay:
            time.sleep(self._delay)
        if fault is not None:
            return fault[1], fault[2]
        if auth != self.api_key:  # the key itself, no "Bearer"
            status, _, body = _problem(401, "Unauthorized", "Missing or invalid API key")
            return status, body
        with self._lock:
            status, _, body = self._route(request)
            return status, body

    def _route(self, r: Request) -> tuple[int, dict[str, str], bytes]:
        parts = r.path.strip("/").split("/")
        if parts[:2] == ["v1", "usertasks"]:
            rest = parts[2:]
            if not rest:
                return {"GET": self._list, "POST": self._create, "PUT": self._update}.get(
                    r.method, _not_allowed
                )(r)
            if rest == ["batch"] and r.method == "POST":
                return self._batch(r)
            if len(rest) == 1:
                return {"GET": self._get, "DELETE": self._delete}.get(
                    r.method, lambda _r, _u: _not_allowed(_r)
                )(r, rest[0])
            if len(rest) == 2 and rest[1] == "comments":
                return self._comments(r, rest[0])
        if parts == ["v1", "users"] and r.method == "GET":
            return 200, {}, _json(list(self.users.values()))
        if parts == ["v1", "usergroups"] and r.method == "GET":
            return 200, {}, _json(list(self.groups.values()))
        return _problem(404, "Not Found", f"No route for {r.method} {r.path}")

    def _list(self, r: Request) -> tuple[int, dict[str, str], bytes]:
        try:
            page = int(r.query.get("page", "1"))
        except ValueError:
            return _problem(400, "Bad Request", "page must be an integer")
        ordered = sorted(self.tasks.values(), key=lambda t: t["Created"])
        start = (page - 1) * self.page_size
        return (
            200,
            {},
            _json(
                {
                    "Page": page,
                    "PageSize": self.page_size,
                    "Total": len(ordered),
                    "UserTasks": ordered[start : start + self.page_size],
                }
            ),
        )

    def _check_people(self, body: dict[str, Any]) -> str | None:
        users = body.get("AssignedUsers") or []
        groups = body.get("AssignedUserGroups") or []
        unknown = [u for u in users if u not in self.users] + [
            g for g in groups if g not in self.groups
        ]
        return f"Unknown users or user groups: {', '.join(unknown)}" if unknown else None

    def _create(self, r: Request) -> tuple[int, dict[str, str], bytes]:
        body = r.body if isinstance(r.body, dict) else None
        if body is None:
            return _problem(400, "Bad Request", "A user task is required")
        uid = body.get("Uid") or str(uuid.uuid4())
        if uid in self.tasks:
            return _problem(400, "Bad Request", f"A user task with Uid {uid} already exists")
        problem = self._check_people(body)
        if problem:
            return _problem(400, "Bad Request", problem)
        self.tasks[uid] = {
            "Uid": uid,
            "Created": struct_time(),
            "CreatedBy": "1",
            "Deadline": body.get("Deadline"),
            "Title": body.get("Title") or "",
            "Description": body.get("Description") or "",
            "Status": 0,
            "AssignedUsers": list(body.get("AssignedUsers") or []),
            "AssignedUserGroups": list(body.get("AssignedUserGroups") or []),
            "Comments": [],
            "AttachedEntities": [{**e, "Status": 0} for e in body.get("AttachedEntities") or []],
        }
        return 200, {}, b""

    def _update(self, r: Request) -> tuple[int, dict[str, str], bytes]:
        body = r.body if isinstance(r.body, dict) else None
        if body is None or not body.get("Uid"):
            return _problem(400, "Bad Request", "Uid is required")
        task = self.tasks.get(body["Uid"])
        if task is None:
            return _problem(404, "Not Found", f"User task {body['Uid']} was not found")
        if body.get("Status") not in (0, 1, 2, 3, 4):
            return _problem(400, "Bad Request", "Status must be 0 to 4")
        problem = self._check_people(body)
        if problem:
            return _problem(400, "Bad Request", problem)
        for key in ("Deadline", "Title", "Description", "Status"):
            task[key] = body.get(key)
        task["AssignedUsers"] = list(body.get("AssignedUsers") or [])
        task["AssignedUserGroups"] = list(body.get("AssignedUserGroups") or [])
        task["AttachedEntities"] = [
            {**e, "Status": e.get("Status", 0)} for e in body.get("AttachedEntities") or []
        ]
        return 200, {}, b""

    def _batch(self, r: Request) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(r.body, list):
            return _problem(400, "Bad Request", "A JSON array of user task Uids is required")
        return 200, {}, _json([self.tasks[u] for u in r.body if u in self.tasks])

    def _get(self, r: Request, uid: str) -> tuple[int, dict[str, str], bytes]:
        if uid not in self.tasks:
            return _problem(404, "Not Found", f"User task {uid} was not found")
        return 200, {}, _json(self.tasks[uid])

    def _delete(self, r: Request, uid: str) -> tuple[int, dict[str, str], bytes]:
        if self.tasks.pop(uid, None) is None:
            return _problem(404, "Not Found", f"User task {uid} was not found")
        return 200, {}, b""

    def _comments(self, r: Request, uid: str) -> tuple[int, dict[str, str], bytes]:
        task = self.tasks.get(uid)
        if task is None:
            return _problem(404, "Not Found", f"User task {uid} was not found")
        body = r.body if isinstance(r.body, dict) else {}
        if r.method == "POST":
            if not body.get("Comment"):
                return _problem(400, "Bad Request", "Comment is required")
            stamp = struct_time()
            task["Comments"].append(
                {
                    "Uid": body.get("Uid") or str(uuid.uuid4()),
                    "Comment": body["Comment"],
                    "UserId": "1",
                    "Name": "API",
                    "Created": stamp,
                    "LastModified": stamp,
                    "IsSystemGenerated": False,
                }
            )
            return 200, {}, b""
        if r.method == "PUT":
            for comment in task["Comments"]:
                if comment["Uid"] == body.get("Uid"):
                    comment.update(Comment=body.get("Comment", ""), LastModified=struct_time())
                    return 200, {}, b""
            return _problem(404, "Not Found", "Comment not found")
        if r.method == "DELETE":
            target = r.query.get("commentUid")
            kept = [c for c in task["Comments"] if c["Uid"] != target]
            if len(kept) == len(task["Comments"]):
                return _problem(404, "Not Found", "Comment not found")
            task["Comments"] = kept
            return 200, {}, b""
        return _not_allowed(r)

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
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    status, _, data = _problem(400, "Bad Request", "The body is not JSON")
                    self._send(status, data)
                    return
                request = Request(self.command, split.path, query, body)
                status, data = simulator._answer(request, self.headers.get("Authorization"))
                self._send(status, data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def _send(self, status: int, data: bytes) -> None:
                kind = "problem+json" if status >= 400 else "json"
                write_answer(self, status, data, {}, f"application/{kind}; charset=utf-8")

        return Handler


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _problem(status: int, title: str, detail: str) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {},
        _json(
            {
                "Type": f"https://tools.ietf.org/html/rfc9110#status-{status}",
                "Title": title,
                "Status": status,
                "Detail": detail,
                "Instance": None,
            }
        ),
    )


def _not_allowed(r: Request) -> tuple[int, dict[str, str], bytes]:
    return _problem(405, "Method Not Allowed", f"{r.method} is not allowed here")


@contextmanager
def struct_pim_simulator(api_key: str = "struct-key") -> Iterator[StructPimSimulator]:
    simulator = StructPimSimulator(api_key).start()
    try:
        yield simulator
    finally:
        simulator.stop()
