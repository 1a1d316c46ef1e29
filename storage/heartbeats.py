"""Heartbeats of worker and scheduler processes, and the figures readiness and ``taskbot status``
read (queue depth, the oldest due job, reminder lag).

Each process writes its own row (``role:host:pid``) every few seconds and deletes it when it stops;
a row whose beat is older than the staleness limit is a process that died without saying so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.engine import rowcount
from storage.job_ledger import PENDING
from storage.reminder_ledger import CLAIMED as REMINDER_CLAIMED
from storage.reminder_ledger import PENDING as REMINDER_PENDING
from storage.reminder_ledger import SENT as REMINDER_SENT
from storage.sync_runs import SqlAlchemySyncRuns, SyncRun
from storage.tables import HeartbeatRow, JobRow, ReminderRow


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
            if not rowcount(changed):
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


class OpsStatus(BaseModel):
    """What ``taskbot status`` prints, read from the database alone."""

    jobs_by_state: dict[str, int]
    oldest_pending: datetime | None
    reminders_sent_last_hour: int
    reminder_lag_avg_seconds: float | None
    reminder_lag_max_seconds: float | None
    reminders_overdue: int  # due, not sent yet
    live: list[Heartbeat]
    syncs: list[SyncRun] = []


def ops_status(sessions: sessionmaker[Session], now: datetime, stale_after: float) -> OpsStatus:
    """Queue depth, the oldest due job, reminder lag (sent − due) over the last hour, the last
    sync pass per backend, and the processes that beat within ``stale_after`` seconds."""
    hour_ago = now - timedelta(hours=1)
    with sessions() as session:
        counted = select(JobRow.state, func.count(JobRow.id)).group_by(JobRow.state)
        states = {state: count for state, count in session.execute(counted)}
        sent = session.execute(
            select(ReminderRow.due_at, ReminderRow.sent_at).where(
                ReminderRow.state == REMINDER_SENT, ReminderRow.sent_at >= hour_ago
            )
        ).all()
        overdue = session.scalar(
            select(func.count(ReminderRow.id)).where(
                ReminderRow.state.in_((REMINDER_PENDING, REMINDER_CLAIMED)),
                ReminderRow.due_at <= now,
            )
        )
    lags = [max(0.0, (s - d).total_seconds()) for d, s in sent if s is not None]
    return OpsStatus(
        jobs_by_state={str(k): int(v) for k, v in states.items()},
        oldest_pending=oldest_pending_job(sessions, now),
        reminders_sent_last_hour=len(lags),
        reminder_lag_avg_seconds=sum(lags) / len(lags) if lags else None,
        reminder_lag_max_seconds=max(lags) if lags else None,
        reminders_overdue=int(overdue or 0),
        live=SqlAlchemyHeartbeats(sessions).live(now - timedelta(seconds=stale_after)),
        syncs=SqlAlchemySyncRuns(sessions).last(),
    )
