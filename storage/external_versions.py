"""Version tokens of mirrored tasks, kept exactly as the task system sent them."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from storage.tables import ExternalVersionRow


class SqlAlchemyExternalVersions:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, task_id: str) -> str | None:
        with self._sessions() as session:
            row = session.get(ExternalVersionRow, task_id)
            return row.token if row is not None else None

    def set(self, task_id: str, token: str) -> None:
        with self._sessions.begin() as session:
            session.merge(ExternalVersionRow(task_id=task_id, token=token))
