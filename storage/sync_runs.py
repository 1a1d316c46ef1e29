"""The last backend-sync pass per task system (the ``SyncRecorder`` port), for ``taskbot status``.

One row per backend, overwritten by each pass: the pass's time and how many tasks changed, or
the error that ended it (cut to one bounded line).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.tables import SYNC_ERROR_CHARS, SyncRunRow


class SyncRun(BaseModel):
    backend: str
    at: datetime
    changed: int | None
    error: str | None


class SqlAlchemySyncRuns:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(self, backend: str, at: datetime, changed: int | None, error: str | None) -> None:
        line = None if error is None else " ".join(error.split())[:SYNC_ERROR_CHARS]
        with self._sessions.begin() as session:
            row = session.get(SyncRunRow, backend)
            if row is None:
                session.add(SyncRunRow(backend=backend, at=at, changed=changed, error=line))
            else:
                row.at, row.changed, row.error = at, changed, line

    def last(self) -> list[SyncRun]:
        """Every backend's last pass, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(SyncRunRow).order_by(SyncRunRow.backend)).all()
            return [
                SyncRun(backend=r.backend, at=r.at, changed=r.changed, error=r.error) for r in rows
            ]
