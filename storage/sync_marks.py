"""Where each task system's sync got to, kept across passes, restarts and processes.

A row per (backend, name): ``changes`` is the high-water mark of the changes a pass read (the
system's own timestamp, e.g. Paymo's newest ``updated_on`` as Unix seconds), ``check`` the
external id the rotating check of mirrored tasks goes on from, ``intake`` when taking tasks in
began. Values are short strings the backend reads back as it wrote them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from storage.tables import SyncMarkRow


class SqlAlchemySyncMarks:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, backend: str, name: str) -> str | None:
        with self._sessions() as session:
            row = session.get(SyncMarkRow, (backend, name))
            return row.value if row is not None else None

    def set(self, backend: str, name: str, value: str, at: datetime) -> None:
        with self._sessions.begin() as session:
            session.merge(SyncMarkRow(backend=backend, name=name, value=value, at=at))
