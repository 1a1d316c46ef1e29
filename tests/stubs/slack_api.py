"""A local Slack Web API: a real HTTP server that records calls and answers like Slack.

Stateful where tests look (messages posted and updated in place, views, DMs by user id), with
Slack's shapes (fixtures in tests/fixtures/slack/web_api/) and Slack's failures on demand:
``ok: false`` errors, HTTP 429 with ``Retry-After``, delays, a per-method rate limit.
It also takes ``response_url`` posts at ``/respond/<key>``. Bound to 127.0.0.1, port 0.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.stubs.http_server import LocalServer, write_answer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slack" / "web_api"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    at: float


@dataclass
class Team:
    team_id: str
    token: str
    bot_user: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)


class _Bucket:
    def __init__(self, per_second: float) -> None:
        self.rate = per_second
        self.tokens = per_second
        self.last = time.monotonic()

    def take(self) -> float | None:
        """None when allowed, else seconds to wait."""
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


class SlackApiStub:
    """Start once per test session; ``reset()`` between tests."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._http = LocalServer(self._handler_class())
        self.teams: dict[str, Team] = {}
        self.reset()

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return self._http.base

    @property
    def url(self) -> str:
        """The Web API base URL, as ``SLACK_API_URL``."""
        return f"{self.base}/api/"

    def start(self) -> SlackApiStub:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def reset(self) -> None:
        with self._lock:
            self._calls: list[Call] = []
            self._responses: list[tuple[str, dict[str, Any]]] = []
            self._faults: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
            self._delays: dict[str, float] = {}
            self._delay_hook: Callable[[str], float] | None = None
            self._buckets: dict[str, _Bucket] = {}
            self._messages: dict[tuple[str, str], dict[str, Any]] = {}
            self._views: dict[str, dict[str, Any]] = {}
            self._home: dict[str, dict[str, Any]] = {}
            self._opened: list[str] = []
            self._triggers_used: set[str] = set()
            self._triggers_expired: set[str] = set()
            self._last_ts = 0
            self._view_ids = itertools.count(1)
            for team in self.teams.values():
                team.channels.clear()

    # --- directory --------------------------------------------------------------------------

    def add_team(self, team_id: str, token: str, bot_user: str = "UBOT") -> None:
        with self._lock:
            self.teams[token] = Team(team_id=team_id, token=token, bot_user=bot_user)

    def _team(self, team_id: str) -> Team:
        return next(t for t in self.teams.values() if t.team_id == team_id)

    def add_user(
        self,
        team_id: str,
        user_id: str,
        *,
        tz: str = "UTC",
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        email: str | None = None,
        name: str | None = None,
    ) -> None:
        user = copy.deepcopy(fixture("web_api.users_info.docs_shape.json")["user"])
        user.update(
            id=user_id,
            team_id=team_id,
            name=name or user_id.lower(),
            real_name=name or user_id,
            tz=tz,
            is_admin=is_admin,
            is_owner=is_owner,
            is_bot=is_bot,
        )
        user["profile"]["email"] = email or f"{user_id.lower()}@example.com"
        with self._lock:
            self._team(team_id).users[user_id] = user

    def add_group(self, team_id: str, group_id: str, handle: str, members: list[str]) -> None:
        with self._lock:
            self._team(team_id).groups[group_id] = {
                "id": group_id,
                "team_id": team_id,
                "handle": handle,
                "name": handle,
                "date_delete": 0,
                "users": list(members),
                "user_count": len(members),
            }

    def add_channel(
        self,
        team_id: str,
        channel_id: str,
        members: list[str],
        *,
        bot_member: bool = True,
        private: bool = False,
        archived: bool = False,
    ) -> None:
        """A channel with known members; channels never added count as public ones that every
        user and the bot are in (``CNOTIN…``: all but the bot)."""
        with self._lock:
            team = self._team(team_id)
            team.channels[channel_id] = {
                "id": channel_id,
                "name": channel_id.lower(),
                "is_channel": not private,
                "is_private": private,
                "is_archived": archived,
                "members": [*members, *([team.bot_user] if bot_member else [])],
            }

    # --- fault injection --------------------------------------------------------------------

    def fail_next(self, method: str, error: str = "internal_error", times: int = 1) -> None:
        with self._lock:
            self._faults.setdefault(method, []).extend(
                [(200, {"ok": False, "error": error}, {})] * times
            )

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        body = fixture("web_api.ratelimited_429.body.json")
        with self._lock:
            self._faults.setdefault(method, []).extend(
                [(429, body, {"Retry-After": str(retry_after)})] * times
            )

    def set_delay(self, method: str, seconds: float) -> None:
        with self._lock:
            self._delays[method] = seconds

    def set_delay_hook(self, hook: Callable[[str], float] | None) -> None:
        """Extra seconds before answering each call, by method (e.g. random, so concurrent calls
        land out of order)."""
        with self._lock:
            self._delay_hook = hook

    def rate_limit(self, method: str, per_second: float) -> None:
        with self._lock:
            self._buckets[method] = _Bucket(per_second)

    def expire_trigger(self, trigger_id: str) -> None:
        with self._lock:
            self._triggers_expired.add(trigger_id)

    # --- what happened ----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def last(self, method: str) -> Call:
        found = self.calls(method)
        assert found, f"no {method} call was made"
        return found[-1]

    def wait_for(self, method: str, count: int = 1, timeout: float = 15.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls(method)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {count} {method} call(s), got {len(self.calls(method))}")

    def response_url_for(self, key: str) -> str:
        return f"{self.base}/respond/{key}"

    def responses(self, key: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [body for k, body in self._responses if key is None or k == key]

    def wait_for_response(
        self, key: str | None = None, count: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.responses(key)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(
            f"expected {count} response_url post(s), got {len(self.responses(key))}"
        )

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._messages[(channel, ts)])

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(m)
                for (ch, _), m in self._messages.items()
                if channel is None or ch == channel
            ]

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Until every call received has been answered and its connection closed (after its
        caller was killed, say)."""
        assert self._http.wait_idle(timeout), "the Slack stub still has connections open"

    def dm_channel(self, user_id: str) -> str:
        return "D" + user_id[1:]

    def home(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._home.get(user_id))

    def last_view_id(self) -> str:
        """The id of the view most recently opened or pushed."""
        with self._lock:
            assert self._opened, "no view was opened"
            return self._opened[-1]

    def view(self, view_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._views[view_id])

    # --- answering --------------------------------------------------------------------------

    def _answer(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self._calls.append(Call(method, params, token, time.time()))
            delay = self._delays.get(method, 0.0)
            if self._delay_hook is not None:
                delay += self._delay_hook(method)
            faults = self._faults.get(method)
            fault = faults.pop(0) if faults else None
            bucket = self._buckets.get(method)
            wait = bucket.take() if bucket else None
        if delay:
            time.sleep(delay)
        if fault is not None:
            return fault
        if wait is not None:
            body = fixture("web_api.ratelimited_429.body.json")
            return 429, body, {"Retry-After": str(max(1, round(wait)))}
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}, {}
        team = self.teams.get(token)
        if team is None:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": True}, {}
        with self._lock:
            return 200, handler(team, params), {}

    def _m_auth_test(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        answer = fixture("web_api.bot_auth_test_response.bolt_test.json")
        answer.update(team_id=team.team_id, user_id=team.bot_user, bot_id="B" + team.bot_user[1:])
        return answer

    def _channel(self, channel: str) -> str:
        return self.dm_channel(channel) if channel[:1] in ("U", "W") else channel

    def _m_chat_postMessage(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel.startswith("CNOTIN"):
            return {"ok": False, "error": "not_in_channel"}
        channel = self._channel(channel)
        ts = self._next_ts()
        message = {
            "type": "message",
            "ts": ts,
            "text": params.get("text", ""),
            "blocks": _json(params.get("blocks")) or [],
            "thread_ts": params.get("thread_ts"),
            "user": team.bot_user,
        }
        if params.get("metadata"):
            message["metadata"] = _json(params["metadata"])
        self._messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("ts")))
        if key not in self._messages:
            return {"ok": False, "error": "message_not_found"}
        message = self._messages[key]
        message.update(text=params.get("text", ""), blocks=_json(params.get("blocks")) or [])
        message["edited"] = True
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message["text"]}

    def _m_chat_delete(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel")), str(params.get("ts")))
        if self._messages.pop(key, None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _m_chat_postEphemeral(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _next_ts(self) -> str:
        """Slack's ts: the posting time in microseconds, unique per workspace."""
        with self._lock:
            self._last_ts = max(self._last_ts + 1, int(time.time() * 1_000_000))
            return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    def _m_conversations_history(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first, ``oldest`` exclusive, metadata only with ``include_all_metadata``,
        paged by ``limit`` and ``cursor`` (an offset here; opaque to callers)."""
        channel = str(params.get("channel") or "")
        oldest = float(params.get("oldest") or 0)
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            found = [
                copy.deepcopy(m)
                for (c, ts), m in self._messages.items()
                if c == channel and float(ts) > oldest and not m.get("thread_ts")
            ]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        page = found[start : start + limit]
        if not with_metadata:
            for message in page:
                message.pop("metadata", None)
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_replies(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent and replies, oldest first (one page), metadata on request."""
        channel, parent = str(params.get("channel") or ""), str(params.get("ts") or "")
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            found = [
                copy.deepcopy(m)
                for (c, ts), m in self._messages.items()
                if c == channel and (ts == parent or m.get("thread_ts") == parent)
            ]
        found.sort(key=lambda m: float(m["ts"]))
        if not with_metadata:
            for message in found:
                message.pop("metadata", None)
        return {"ok": True, "messages": found, "has_more": False}

    def _m_chat_getPermalink(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel"), str(params.get("message_ts", ""))
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _m_conversations_open(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users") or "").split(",")
        return {"ok": True, "channel": {"id": self.dm_channel(users[0])}}

    def _channel_record(self, team: Team, channel_id: str) -> dict[str, Any] | None:
        known = team.channels.get(channel_id)
        if known is not None:
            return known
        if not channel_id.startswith("C"):
            return None
        bot = [] if channel_id.startswith("CNOTIN") else [team.bot_user]
        return {
            "id": channel_id,
            "name": channel_id.lower(),
            "is_channel": True,
            "is_private": False,
            "is_archived": False,
            "members": [*team.users, *bot],
        }

    def _m_conversations_info(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        """Slack hides a private channel from a bot that isn't in it (``channel_not_found``)."""
        record = self._channel_record(team, str(params.get("channel") or ""))
        if record is None or (record["is_private"] and team.bot_user not in record["members"]):
            return {"ok": False, "error": "channel_not_found"}
        shown = {k: v for k, v in record.items() if k != "members"}
        return {"ok": True, "channel": {**shown, "is_member": team.bot_user in record["members"]}}

    def _m_conversations_members(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        """Paged by ``limit`` and ``cursor`` (an offset here; opaque to callers)."""
        record = self._channel_record(team, str(params.get("channel") or ""))
        if record is None or (record["is_private"] and team.bot_user not in record["members"]):
            return {"ok": False, "error": "channel_not_found"}
        limit = int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        more = start + limit < len(record["members"])
        return {
            "ok": True,
            "members": list(record["members"][start : start + limit]),
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_users_info(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        user = team.users.get(str(params.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": copy.deepcopy(user)}

    def _m_users_lookupByEmail(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email", "")).lower()
        for user in team.users.values():
            if user["profile"]["email"].lower() == email:
                return {"ok": True, "user": copy.deepcopy(user)}
        return fixture("web_api.users_lookupByEmail.not_found.json")

    def _m_usergroups_list(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        with_users = str(params.get("include_users", "")).lower() in ("1", "true")
        groups = []
        for group in team.groups.values():
            shown = copy.deepcopy(group)
            if not with_users:
                shown.pop("users")
            groups.append(shown)
        return {"ok": True, "usergroups": groups}

    def _m_usergroups_users_list(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        group = team.groups.get(str(params.get("usergroup")))
        if group is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(group["users"])}

    def _check_view(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        view = _json(params.get("view"))
        if not isinstance(view, dict) or "type" not in view:
            return None, "invalid_arguments"
        if len(view.get("blocks") or []) > 100:
            return None, "invalid_arguments"
        title = ((view.get("title") or {}).get("text")) or ""
        if len(title) > 24:
            return None, "invalid_arguments"
        return view, None

    def _store_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._view_ids):06d}"
        stored = {**view, "id": view_id, "hash": f"{time.time():.6f}.{view_id}"}
        self._views[view_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _use_trigger(self, params: dict[str, Any]) -> str | None:
        trigger = str(params.get("trigger_id") or "")
        if trigger in self._triggers_expired:
            return str(fixture("web_api.views_open.expired_trigger_id.json")["error"])
        if trigger in self._triggers_used:
            return "exchanged_trigger_id"
        self._triggers_used.add(trigger)
        return None

    def _m_views_open(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        problem = self._use_trigger(params)
        view, invalid = self._check_view(params)
        if problem or invalid or view is None:
            return {"ok": False, "error": problem or invalid}
        answer = self._store_view(view)
        self._opened.append(answer["view"]["id"])
        return answer

    _m_views_push = _m_views_open

    def _m_views_update(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        view, invalid = self._check_view(params)
        view_id = str(params.get("view_id") or "")
        if invalid or view is None:
            return {"ok": False, "error": invalid}
        if view_id not in self._views:
            return {"ok": False, "error": "not_found"}
        return self._store_view(view, view_id)

    def _m_views_publish(self, team: Team, params: dict[str, Any]) -> dict[str, Any]:
        view, invalid = self._check_view(params)
        if invalid or view is None:
            return {"ok": False, "error": invalid}
        answer = self._store_view(view)
        self._home[str(params.get("user_id"))] = answer["view"]
        return answer

    # --- HTTP -------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                if self.path.startswith("/respond/"):
                    with stub._lock:
                        stub._responses.append(
                            (self.path[len("/respond/") :], json.loads(raw or "{}"))
                        )
                    self._send(200, {"ok": True}, {})
                    return
                if not self.path.startswith("/api/"):
                    self._send(404, {"ok": False, "error": "unknown_method"}, {})
                    return
                method = self.path[len("/api/") :].split("?")[0]
                params = _parse_body(raw, self.headers.get("Content-Type", ""))
                auth = self.headers.get("Authorization", "")
                token = (
                    auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.get("token")
                )
                status, body, headers = stub._answer(method, params, token)
                self._send(status, body, headers)

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                write_answer(self, status, json.dumps(body).encode(), headers)

        return Handler


def _parse_body(raw: str, content_type: str) -> dict[str, Any]:
    if "json" in content_type or raw.startswith("{"):
        try:
            return dict(json.loads(raw or "{}"))
        except ValueError:
            return {}
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@contextmanager
def slack_stub() -> Iterator[SlackApiStub]:
    stub = SlackApiStub().start()
    try:
        yield stub
    finally:
        stub.stop()
