"""The embedded backend: tasks kept in taskbot's own store (SQLite or PostgreSQL).

Every rule of DESIGN.md is native here: parts, MUST_ALL, groups, comments, attachments.
Imports ``bot.domain`` and ``storage``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.events import Effect
from bot.domain.models import BackendCapabilities, Task, TaskDraft, TaskQuery
from storage.local_tasks import SqlAlchemyTaskStore


class LocalBackend:
    name = "local"
    capabilities = BackendCapabilities(must_all_native=True)

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._store = SqlAlchemyTaskStore(sessions)

    def create(self, draft: TaskDraft, now: datetime) -> Task:
        return self._store.create(draft, now)

    def create_once(self, draft: TaskDraft, now: datetime, effect: Effect) -> Task:
        return self._store.create(draft, now, effect=effect)

    def save_once(self, task: Task, expected_version: int, effect: Effect) -> Task:
        return self._store.save(task, expected_version, effect=effect)

    def get(self, team_id: str, handle: str) -> Task:
        return self._store.get(team_id, handle)

    def save(self, task: Task, expected_version: int) -> Task:
        return self._store.save(task, expected_version)

    def delete(self, team_id: str, handle: str, expected_version: int) -> None:
        self._store.delete(team_id, handle, expected_version, datetime.now(UTC))

    def list(self, query: TaskQuery) -> list[Task]:
        return self._store.list(query)

    def find_user_by_email(self, team_id: str, email: str) -> str | None:
        """The embedded store names people by their Slack ids: no directory to ask."""
        return None
