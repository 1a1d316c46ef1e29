"""In-memory stand-ins for the ports, with the same semantics as the real adapters."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.domain import rules
from bot.domain.errors import BackendUnavailable, Conflict, NotFound
from bot.domain.events import TaskEvent
from bot.domain.models import (
    AssigneeKind,
    BackendCapabilities,
    ListView,
    Task,
    TaskDraft,
    TaskQuery,
    format_handle,
)
from bot.service.ports import Person

FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


class InMemoryBackend:
    """A TaskBackend in a dict: per-team handles, optimistic versions, soft delete."""

    name = "memory"

    def __init__(self, capabilities: BackendCapabilities | None = None) -> None:
        self.capabilities = capabilities or BackendCapabilities(must_all_native=True)
        self.delay = 0.0
        self._failures = 0
        self._lock = threading.Lock()
        self._tasks: dict[tuple[str, str], Task] = {}
        self._numbers: dict[str, int] = {}

    def fail_next(self, times: int = 1) -> None:
        self._failures = times

    def _enter(self) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            if self._failures:
                self._failures -= 1
                raise BackendUnavailable("The task system didn't answer.")

    def snapshot(self) -> dict[tuple[str, str], Task]:
        with self._lock:
            return dict(self._tasks)

    def create(self, draft: TaskDraft, now: datetime) -> Task:
        self._enter()
        with self._lock:
            number = self._numbers.get(draft.team_id, 0) + 1
            self._numbers[draft.team_id] = number
            task = rules.new_task(
                draft, task_id=uuid.uuid4().hex, handle=format_handle(number), now=now
            )
            self._tasks[(draft.team_id, task.handle)] = task
            return task

    def _get(self, team_id: str, handle: str) -> Task:
        task = self._tasks.get((team_id, handle))
        if task is None:
            raise NotFound(f"There is no task {handle} in this workspace.")
        if task.deleted:
            raise NotFound(f"{handle} was deleted.")
        return task

    def get(self, team_id: str, handle: str) -> Task:
        self._enter()
        with self._lock:
            return self._get(team_id, handle)

    def save(self, task: Task, expected_version: int) -> Task:
        self._enter()
        with self._lock:
            current = self._get(task.team_id, task.handle)
            if current.version != expected_version:
                raise Conflict(f"{task.handle} changed meanwhile.", current=current)
            self._tasks[(task.team_id, task.handle)] = task
            return task

    def delete(self, team_id: str, handle: str, expected_version: int) -> None:
        self._enter()
        with self._lock:
            current = self._get(team_id, handle)
            if current.version != expected_version:
                raise Conflict(f"{handle} changed meanwhile.", current=current)
            self._tasks[(team_id, handle)] = current.model_copy(
                update={"deleted": True, "version": current.version + 1}
            )

    def list(self, query: TaskQuery) -> list[Task]:
        self._enter()
        with self._lock:
            tasks = [t for (team, _), t in self._tasks.items() if team == query.team_id]
        found = [t for t in tasks if t.is_open and _matches(t, query)]
        found.sort(key=lambda t: (t.due_instant() or FAR_FUTURE, int(t.handle[2:])))
        return found[: query.limit]

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        return None


def _assigned_to(task: Task, user: str | None, groups: frozenset[str]) -> bool:
    return any(
        (p.assignee.kind is AssigneeKind.USER and p.assignee.id == user)
        or (p.assignee.kind is AssigneeKind.GROUP and p.assignee.id in groups)
        for p in task.parts
    )


def _matches(task: Task, query: TaskQuery) -> bool:
    mine = _assigned_to(task, query.user_id, query.group_ids)
    if query.view is ListView.MINE:
        return mine
    if query.view is ListView.ASSIGNED:
        return task.assignor == query.user_id
    if query.view is ListView.CHANNEL:
        return task.channel_id == query.channel_id
    involved = mine or task.assignor == query.user_id
    if query.view is ListView.OVERDUE:
        due = task.due_instant()
        return involved and due is not None and query.now is not None and due < query.now
    return involved


class FakeNotifier:
    def __init__(self) -> None:
        self.events: list[TaskEvent] = []
        self.told: list[tuple[str, str, str]] = []
        self.fail = False

    def notify(self, events: Sequence[TaskEvent]) -> None:
        if self.fail:
            raise RuntimeError("Slack is down")
        self.events.extend(events)

    def tell(self, team_id: str, user_id: str, text: str) -> None:
        self.told.append((team_id, user_id, text))

    def kinds(self) -> list[str]:
        return [e.kind.value for e in self.events]


class FakeDirectory:
    def __init__(self) -> None:
        self.people: dict[tuple[str, str], Person] = {}
        self.groups: dict[tuple[str, str], frozenset[str]] = {}

    def add_person(self, team_id: str, user_id: str, **fields: object) -> None:
        self.people[(team_id, user_id)] = Person(user_id=user_id, **fields)  # type: ignore[arg-type]

    def add_group(self, team_id: str, group_id: str, members: Sequence[str]) -> None:
        self.groups[(team_id, group_id)] = frozenset(members)

    def person(self, team_id: str, user_id: str, *, max_age: timedelta | None = None) -> Person:
        try:
            return self.people[(team_id, user_id)]
        except KeyError:
            raise NotFound(f"I can't find the Slack user {user_id}.") from None

    def group_members(self, team_id: str, group_id: str) -> frozenset[str]:
        try:
            return self.groups[(team_id, group_id)]
        except KeyError:
            raise NotFound(f"I can't find the user group {group_id}.") from None

    def groups_of(self, team_id: str, user_id: str) -> frozenset[str]:
        return frozenset(g for (t, g), m in self.groups.items() if t == team_id and user_id in m)

    def group_name(self, team_id: str, group_id: str) -> str | None:
        return group_id.lower().removeprefix("s") if (team_id, group_id) in self.groups else None

    def find_by_email(self, team_id: str, email: str) -> str | None:
        for (team, user), person in self.people.items():
            if team == team_id and person.email and person.email.lower() == email.lower():
                return user
        return None


class FakeClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
