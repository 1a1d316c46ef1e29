"""LINE WORKS Tasks (``TASK_BACKEND=lineworks``): tasks in LINE WORKS, driven from Slack.

Contract: seed 002 and ../shared/API-NOTES.md §2. The Task API takes only user-account tokens:
each Slack user may link their own LINE WORKS account (OAuth authorization code: ``/task link
lineworks`` gives a taskbot link, ``/oauth/lineworks/start`` names whose link it is and sends the
browser on to LINE WORKS, ``/oauth/lineworks/callback`` takes the answer; ``bot.web.oauth``), so
tasks are created as that person
("creates my task"). The ``state`` is a random nonce kept (hashed) in the store and consumed by the
callback, so it works once; the web edge binds it to the browser that started. The account is
linked only if nobody else in the workspace holds it, checked before its tokens are kept, in the
same transaction. Tokens are stored sealed (``bot.keys``) and refreshed before they expire and
on a 401. Without a link, the operator account (``LINEWORKS_REFRESH_TOKEN``) is used and the card
says so.

LINE WORKS has ANY_ONE/MUST_ALL natively and per-assignee done/undone, so each part's state is
sent as the assignee's complete/incomplete, and a whole-task complete or reopen as the task's.
Both response shapes are read (``{"task": …}`` and the bare task); errors are
``{code, description}``; every operation of the task API is held to 60 calls a minute across
all taskbot processes (a budget per operation, shared through the database), and a 429 makes
every process wait ``rateLimit-reset`` for that operation.

Safe readings where the docs are silent: the token endpoint is ``{LINEWORKS_AUTH_URL}token``
(form post; API-NOTES infers it); ``DELETE`` and ``…/complete`` answer 204; ``content`` may be
empty; comments stay in taskbot (the Task API has none); ``dueDate`` is a date only.
"""

from __future__ import annotations

import builtins
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from cachetools import TTLCache

from bot.backends.http import ApiClient, Unauthorized
from bot.backends.mirror import MirroredBackend, RemoteState
from bot.domain.errors import BackendUnavailable, InvalidInput, NotFound, NotPermitted
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import (
    Assignee,
    AssigneeKind,
    BackendCapabilities,
    Comment,
    CommentEvent,
    Due,
    PartState,
    Task,
    TaskDraft,
)
from bot.domain.rates import Rate
from bot.domain.rules import added_comments
from bot.keys import Keys, UnreadableSecret
from bot.service.ports import ConfirmOwner, PendingSignIn, SignedIn
from storage.link_states import PendingLink, SqlAlchemyLinkStates
from storage.local_tasks import SqlAlchemyTaskStore
from storage.oauth_tokens import SqlAlchemyOAuthTokens, StoredTokens
from storage.user_map import SqlAlchemyUserMap

NAME = "lineworks"
ID_PREFIX = "lineworks-"
DEFAULT_API_URL = "https://www.worksapis.com/v1.0/"
DEFAULT_AUTH_URL = "https://auth.worksmobile.com/oauth2/v2.0/"
SCOPES = "task user.email.read"
STATE_LIFETIME = 600  # seconds a link from /task link lineworks stays usable
OPERATOR = "operator"
SIGN_IN_PATH = "/oauth/lineworks"  # {…}/start and {…}/callback on TASKBOT_PUBLIC_URL
EXPIRED = "This sign-in link is not valid any more; run `/task link lineworks` again."
TAKEN = (
    "That LINE WORKS account is already linked to someone else in this workspace; "
    "if it is yours, ask an admin to move it."
)
TASK_RATE = Rate(calls=60, seconds=60)  # per operation of the task API, on every plan


def _detail(response: httpx.Response) -> str | None:
    body = response.json()
    if not isinstance(body, dict):
        return None
    found = body.get("description") or body.get("message") or body.get("code")
    return str(found) if found else None


def _open(keys: Keys, sealed: str) -> str:
    try:
        return keys.open(sealed)
    except UnreadableSecret:
        raise NotPermitted("Your LINE WORKS link can't be read; link again.") from None


class Tokens:
    """Access tokens: a person's own (stored sealed) or the operator account's."""

    def __init__(
        self,
        auth: ApiClient,
        store: SqlAlchemyOAuthTokens,
        keys: Keys,
        *,
        client_id: str,
        client_secret: str,
        operator_refresh: str | None,
    ) -> None:
        self._auth = auth
        self._store = store
        self._keys = keys
        self._client = (client_id, client_secret)
        self._operator_refresh = operator_refresh
        self._operator: tuple[str, float] | None = None
        self._lock = threading.Lock()

    @property
    def auth(self) -> ApiClient:
        """The sign-in client (closed with the backend)."""
        return self._auth

    def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        client_id, client_secret = self._client
        response = self._auth.request(
            "POST",
            "token",
            content=urlencode({**form, "client_id": client_id, "client_secret": client_secret}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        answer = self._auth.json(response)
        if not isinstance(answer, dict) or "access_token" not in answer:
            raise BackendUnavailable("LINE WORKS answered the token request without a token.")
        return answer

    def own_account(self, team_id: str, slack_id: str) -> str | None:
        """The LINE WORKS account the person linked, if they did."""
        stored = self._store.get(team_id, slack_id, NAME)
        return stored.account_id if stored is not None else None

    def for_person(self, team_id: str, slack_id: str, *, fresh: bool = False) -> str:
        """The person's token if they linked their account, else the operator's."""
        stored = self._store.get(team_id, slack_id, NAME)
        if stored is None:
            return self.operator(fresh=fresh)
        soon = datetime.now(UTC) + timedelta(seconds=60)
        if not fresh and stored.expires_at > soon:
            return _open(self._keys, stored.access_token)
        refresh = _open(self._keys, stored.refresh_token)
        answer = self.exchange({"grant_type": "refresh_token", "refresh_token": refresh})
        self._store.put(team_id, slack_id, NAME, self.sealed(stored.account_id, answer, refresh))
        return str(answer["access_token"])

    def operator(self, *, fresh: bool = False) -> str:
        with self._lock:
            if not fresh and self._operator and self._operator[1] > time.monotonic() + 60:
                return self._operator[0]
            if not self._operator_refresh:
                raise NotPermitted(
                    "Link your LINE WORKS account first with `/task link lineworks` "
                    "(no operator account is configured)."
                )
            answer = self.exchange(
                {"grant_type": "refresh_token", "refresh_token": self._operator_refresh}
            )
            self._operator = (str(answer["access_token"]), time.monotonic() + _lifetime(answer))
            return self._operator[0]

    def sealed(self, account: str, answer: dict[str, Any], refresh: str) -> StoredTokens:
        """A token answer as it is stored: sealed with the current key."""
        return StoredTokens(
            account_id=account,
            access_token=self._keys.seal(str(answer["access_token"])),
            refresh_token=self._keys.seal(str(answer.get("refresh_token") or refresh)),
            expires_at=datetime.now(UTC) + timedelta(seconds=_lifetime(answer)),
        )

    def link(self, link: UserLink, answer: dict[str, Any]) -> bool:
        """Keep a sign-in's tokens with its link, or neither when the account is taken."""
        sealed = self.sealed(link.assignee_id, answer, str(answer.get("refresh_token") or ""))
        return self._store.put_linked(link, sealed)


def _lifetime(answer: dict[str, Any]) -> float:
    try:
        return float(answer.get("expires_in") or 3600)
    except (TypeError, ValueError):
        return 3600.0


class LineWorksBackend(MirroredBackend):
    name = NAME
    prefix = ID_PREFIX
    check_per_pass = 50  # GET /tasks/{id} is 60 a minute: a pass reads 50, taking turns
    capabilities = BackendCapabilities(
        multi_assignee=True,
        groups=False,
        must_all_native=True,
        comments=True,
        attachments=True,
        due_time=False,
        user_map=True,
        directory=True,
        assignee_id_example="a LINE WORKS user id",
        categories=True,
        label="LINE WORKS",
    )

    def __init__(
        self,
        api: ApiClient,
        tokens: Tokens,
        states: SqlAlchemyLinkStates,
        store: SqlAlchemyTaskStore,
        links: SqlAlchemyUserMap,
        *,
        auth_url: str,
        client_id: str,
        public_url: str | None,
        rate: Rate = TASK_RATE,
    ) -> None:
        super().__init__(store, links)
        self._api = api
        self._tokens = tokens
        self._api_clients = (api, tokens.auth)
        self._states = states
        self._auth_url = auth_url if auth_url.endswith("/") else auth_url + "/"
        self._client_id = client_id
        self._public_url = public_url.rstrip("/") if public_url else None
        self._rate = rate
        self._operator_id: str | None = None
        self._categories: TTLCache[tuple[str, str], builtins.list[tuple[str, str]]] = TTLCache(
            maxsize=1_000, ttl=600
        )

    # --- calls ---------------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, operation: str, team_id: str, slack_id: str, **kw: Any
    ) -> httpx.Response:
        """One call with the person's (or operator's) token, in the operation's rate budget; a
        401 refreshes the token once."""
        token = self._tokens.for_person(team_id, slack_id)
        limited = {"operation": operation, "rate": self._rate, **kw}
        try:
            return self._api.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **limited
            )
        except Unauthorized as exc:
            if exc.status != 401:
                raise
        token = self._tokens.for_person(team_id, slack_id, fresh=True)
        return self._api.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **limited
        )

    # --- OAuth link ----------------------------------------------------------------------------

    def authorize_url(self, team_id: str, slack_id: str, now: datetime) -> str:
        """A fresh single-use sign-in for this person: the taskbot link that starts it."""
        if not self._public_url:
            raise InvalidInput(
                {"link": "An admin has to set TASKBOT_PUBLIC_URL before people can link accounts."}
            )
        state = secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=STATE_LIFETIME)
        self._states.add(state, NAME, PendingLink(team_id, slack_id), expires_at=expires, now=now)
        return f"{self._public_url}{SIGN_IN_PATH}/start?{urlencode({'state': state})}"

    def sign_in_url(self, state: str, now: datetime) -> PendingSignIn:
        """Whose sign-in ``state`` is, and LINE WORKS' authorize page for it."""
        pending = self._states.peek(state, NAME, now)
        if pending is None:
            raise NotPermitted(EXPIRED)
        query = urlencode(
            {
                "client_id": self._client_id,
                "redirect_uri": self.redirect_uri(),
                "scope": SCOPES,
                "response_type": "code",
                "state": state,
            },
            quote_via=quote,
        )
        return PendingSignIn(
            team_id=pending.team_id,
            slack_id=pending.slack_id,
            url=f"{self._auth_url}authorize?{query}",
        )

    def redirect_uri(self) -> str:
        return f"{self._public_url}{SIGN_IN_PATH}/callback"

    def complete_link(
        self, code: str, state: str, now: datetime, confirm: ConfirmOwner
    ) -> tuple[str, str, str]:
        """The callback: use up the state, get tokens, learn whose they are (``users/me``: id and,
        with ``user.email.read``, email), let ``confirm`` refuse them, then link them (tokens kept
        only if the account is nobody else's); (team, slack id, account)."""
        pending = self._states.consume(state, NAME, now)
        if pending is None:
            raise NotPermitted(EXPIRED)
        answer = self._tokens.exchange(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri()}
        )
        me = self._api.json(
            self._api.request(
                "GET", "users/me", headers={"Authorization": f"Bearer {answer['access_token']}"}
            )
        )
        account = str(me.get("userId") or "")
        if not account:
            raise BackendUnavailable("LINE WORKS didn't say whose account this is.")
        email = str(me.get("email") or "") or None
        confirm(
            SignedIn(
                team_id=pending.team_id, slack_id=pending.slack_id, account_id=account, email=email
            )
        )
        link = UserLink(
            team_id=pending.team_id,
            backend=NAME,
            slack_id=pending.slack_id,
            kind=AssigneeKind.USER,
            assignee_id=account,
            how=LinkHow.SELF,
            set_by=pending.slack_id,
            set_at=now,
        )
        if not self._tokens.link(link, answer):
            raise NotPermitted(TAKEN)
        return pending.team_id, pending.slack_id, account

    # --- categories ----------------------------------------------------------------------------

    def categories(self, team_id: str, slack_id: str) -> builtins.list[tuple[str, str]]:
        """The person's task categories, cached 10 minutes; asked with a 1 s budget (and at most
        0.5 s of waiting for a rate-limit turn) because the create form waits for them (Slack's
        trigger lives 3 s). Empty when not known in time."""
        key = (team_id, slack_id)
        if key in self._categories:
            return self._categories[key]
        try:
            token = self._tokens.for_person(team_id, slack_id)
            response = self._api.request(
                "GET",
                "users/me/task-categories",
                headers={"Authorization": f"Bearer {token}"},
                timeout=1.0,
                retries=0,
                operation="GET /users/task-categories",
                rate=self._rate,
                wait=0.5,
            )
            listed = self._api.json(response).get("taskCategories") or []
        except (BackendUnavailable, NotPermitted, InvalidInput):
            return []
        found = [
            (str(c["categoryId"]), str(c.get("categoryName") or c["categoryId"])) for c in listed
        ]
        self._categories[key] = found
        return found

    # --- the task system ----------------------------------------------------------------------

    def _push_new(self, draft: TaskDraft) -> str:
        assignor = self._tokens.own_account(
            draft.team_id, draft.assignor
        ) or self._operator_account(draft.team_id, draft.assignor)
        body = {
            "assignorId": assignor,
            "assignees": [
                {"assigneeId": a, "status": "TODO"}
                for a in self.linked(draft.team_id, draft.assignees, AssigneeKind.USER)
            ],
            "title": draft.title,
            "content": draft.description,
            "dueDate": draft.due.date.isoformat() if draft.due else None,
            "completionCondition": draft.condition.value,
            "categoryId": draft.category or "default",
        }
        response = self._call(
            "POST", "users/me/tasks", "POST /users/tasks", draft.team_id, draft.assignor, json=body
        )
        return str(_task(self._api.json(response))["taskId"])

    def _operator_account(self, team_id: str, slack_id: str) -> str:
        """The operator account's id, asked once (``GET /users/me`` with its token)."""
        if self._operator_id is None:
            me = self._call("GET", "users/me", "GET /users/me", team_id, slack_id)
            self._operator_id = str(self._api.json(me).get("userId"))
        return self._operator_id

    def _created(self, task: Task, now: datetime) -> Task:
        by_operator = self._tokens.own_account(task.team_id, task.assignor) is None
        if by_operator:  # the card says the operator account made it
            note = Comment(
                author=None,
                text="made in LINE WORKS with the operator account (`/task link lineworks` "
                "to use yours)",
                created_at=now,
                event=CommentEvent.OPERATOR,
            )
            noted = task.model_copy(
                update={"comments": (*task.comments, note), "version": task.version + 1}
            )
            task = self._store.save(noted, task.version)
        return task

    def _push_change(self, before: Task, after: Task) -> None:
        task_id = self.external_id(after)
        actor = _actor(before, after)
        patch: dict[str, Any] = {}
        if after.title != before.title:
            patch["title"] = after.title
        if after.description != before.description:
            patch["content"] = after.description
        if (after.due and after.due.date) != (before.due and before.due.date):
            patch["dueDate"] = after.due.date.isoformat() if after.due else None
        users_before = self.linked(before.team_id, before.assignees, AssigneeKind.USER)
        users_after = self.linked(after.team_id, after.assignees, AssigneeKind.USER)
        if users_after != users_before:
            patch["assignees"] = [{"assigneeId": a, "status": "TODO"} for a in users_after]
        if after.condition != before.condition and len(users_after) >= 2:
            patch["completionCondition"] = after.condition.value
        if patch:
            self._call(
                "PATCH", f"tasks/{task_id}", "PATCH /tasks", after.team_id, actor, json=patch
            )
        changed = [
            (p.assignee, p.state)
            for p in after.parts
            if (old := before.part_of(p.assignee)) is not None and old.state is not p.state
        ]
        whole = after.is_completed != before.is_completed and len(changed) == len(after.parts) > 1
        if whole:
            verb = "complete" if after.is_completed else "incomplete"
            self._call(
                "POST", f"tasks/{task_id}/{verb}", f"POST /tasks/{verb}", after.team_id, actor
            )
            return
        for assignee, state in changed:
            (account,) = self.linked(after.team_id, [assignee], AssigneeKind.USER)
            verb = "complete" if state is PartState.DONE else "incomplete"
            self._call(
                "POST",
                f"tasks/{task_id}/assignees/{quote(account, safe='')}/{verb}",
                f"POST /tasks/assignees/{verb}",
                after.team_id,
                actor,
            )

    def _push_delete(self, external_id: str) -> None:
        task = self._store.find(f"{ID_PREFIX}{external_id}")
        team, actor = (task.team_id, task.assignor) if task else ("", "")
        self._call("DELETE", f"tasks/{external_id}", "DELETE /tasks", team, actor)

    def _fetch(self, external_ids: Sequence[str], tasks: Sequence[Task]) -> dict[str, RemoteState]:
        found: dict[str, RemoteState] = {}
        for task in tasks:
            try:
                response = self._call(
                    "GET",
                    f"tasks/{self.external_id(task)}",
                    "GET /tasks",
                    task.team_id,
                    task.assignor,
                )
            except NotFound:
                continue
            raw = _task(self._api.json(response))
            due = raw.get("dueDate")
            tz = task.due.tz if task.due else "UTC"
            found[self.external_id(task)] = RemoteState(
                title=str(raw.get("title") or ""),
                description=str(raw.get("content") or ""),
                due=Due(date=date.fromisoformat(str(due)), tz=tz) if due else None,
                complete=raw.get("status") == "DONE",
                assignees=self._slack_assignees(task.team_id, raw),
            )
        return found

    def _slack_assignees(self, team_id: str, raw: dict[str, Any]) -> tuple[Assignee, ...] | None:
        found: builtins.list[Assignee] = []
        for item in raw.get("assignees") or []:
            link = self._links.by_assignee(
                team_id, NAME, AssigneeKind.USER, str(item.get("assigneeId"))
            )
            if link is None:
                return None  # someone taskbot can't name: leave the assignees as they are
            found.append(Assignee.user(link.slack_id))
        return tuple(found)

    def all_tasks(
        self, team_id: str, slack_id: str, *, page_size: int = 100
    ) -> builtins.list[dict[str, Any]]:
        """Every task of the person's default category, page by page (``nextCursor``)."""
        found: builtins.list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"categoryId": "default", "status": "ALL", "count": page_size}
            if cursor:
                params["cursor"] = cursor
            answer = self._api.json(
                self._call(
                    "GET", "users/me/tasks", "GET /users/tasks", team_id, slack_id, params=params
                )
            )
            found.extend(answer.get("tasks") or [])
            cursor = (answer.get("responseMetaData") or {}).get("nextCursor")
            if not cursor:
                return found

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        try:
            response = self._api.request(
                "GET",
                f"users/{quote(email, safe='')}",
                headers={"Authorization": f"Bearer {self._tokens.operator()}"},
            )
        except NotFound:
            return None
        except NotPermitted:
            return None  # no operator account: people link themselves
        found = self._api.json(response).get("userId")
        return str(found) if found else None


def _task(body: Any) -> dict[str, Any]:
    """Both documented shapes: ``{"task": {…}}`` and the bare task (API-NOTES 2.7-1)."""
    task = body.get("task", body) if isinstance(body, dict) else None
    if not isinstance(task, dict) or "taskId" not in task:
        raise BackendUnavailable("LINE WORKS answered with something that isn't a task.")
    return task


def _actor(before: Task, after: Task) -> str:
    """Whose token makes the change: the author of its newest comment, else the assignor."""
    authors = [c.author for c in added_comments(before, after) if c.author]
    return authors[-1] if authors else after.assignor
