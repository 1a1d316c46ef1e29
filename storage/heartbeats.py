"""Heartbeats of worker and scheduler processes, and the queue figures readiness reads.

Each process writes its own row (``role:host:pid``) every few seconds and deletes it when it stops;
a row whose beat is older than the staleness limit is a process that died without saying so.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.job_ledger import PENDING
from storage.tables import HeartbeatRow, JobRow


class Heartbeat(BaseModel):
    process_id: str
    role: str
    started_at: datetime
    beat_at: datetime


class SqlAlchemyHeartbeats:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def beat(self, process_id: str, role: str, started_at: datetime, now: datetime) -> None:
        """Record that the process is alive now (its row is made on the first beat)."""
        with self._sessions.begin() as session:
            changed = session.execute(
                update(HeartbeatRow)
                .where(HeartbeatRow.process_id == process_id)
                .values(beat_at=now)
                .execution_options(synchronize_session=False)
            )
            if not getattr(changed, "rowcount", 0):
                session.add(
                    HeartbeatRow(
                        process_id=process_id, role=role, started_at=started_at, beat_at=now
                    )
                )

    def drop(self, process_id: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(HeartbeatRow).where(HeartbeatRow.process_id == process_id))

    def live(self, since: datetime) -> list[Heartbeat]:
        """Processes that beat at ``since`` or later, by role then id."""
        with self._sessions() as session:
            rows = session.scalars(
                select(HeartbeatRow)
                .where(HeartbeatRow.beat_at >= since)
                .order_by(HeartbeatRow.role, HeartbeatRow.process_id)
            ).all()
            return [
                Heartbeat(
                    process_id=r.process_id, role=r.role, started_at=r.started_at, beat_at=r.beat_at
                )
                for r in rows
            ]


def oldest_pending_job(sessions: sessionmaker[Session], now: datetime) -> datetime | None:
    """Since when the longest-waiting job that is due has waited; None when none waits."""
    with sessions() as session:
        oldest: datetime | None = session.scalar(
            select(func.min(JobRow.available_at)).where(
                JobRow.state == PENDING, JobRow.available_at <= now
            )
        )
        return oldest
