"""The reminder ledger: which reminders are due, who is sending them, which were sent.

Claiming is atomic so several schedulers never send one reminder twice: on PostgreSQL the due
rows are locked with ``FOR UPDATE SKIP LOCKED``; on SQLite (one writer at a time) a conditional
UPDATE does the same. A claim expires, so a crashed sender's reminders are taken over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.reminders import PlannedReminder, ReminderKind
from storage.engine import rowcount
from storage.tables import ReminderRow

PENDING, CLAIMED, SENT, FAILED, CANCELLED = "pending", "claimed", "sent", "failed", "cancelled"
DIGEST_TASK = ""  # a digest is about a person's tasks, not one task


@dataclass(frozen=True)
class Reminder:
    id: int
    team_id: str
    task_id: str
    handle: str
    assignee_id: str
    offset_seconds: int
    due_at: datetime
    attempts: int
    kind: str = ReminderKind.REMIND
    taken_over: bool = False  # claimed from a sender whose claim expired: it may have sent it


class SqlAlchemyReminderLedger:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def replace_pending(
        self, team_id: str, task_id: str, planned: Iterable[PlannedReminder], handle: str = ""
    ) -> None:
        """The task's pending reminders become ``planned``; sent ones stay as history."""
        with self._sessions.begin() as session:
            session.execute(
                update(ReminderRow)
                .where(
                    ReminderRow.team_id == team_id,
                    ReminderRow.task_id == task_id,
                    ReminderRow.state == PENDING,
                )
                .values(state=CANCELLED)
            )
            session.add_all(_row(team_id, task_id, handle, item) for item in planned)

    def cancel(self, team_id: str, task_id: str, assignee_id: str | None = None) -> None:
        conditions = [
            ReminderRow.team_id == team_id,
            ReminderRow.task_id == task_id,
            ReminderRow.state == PENDING,
        ]
        if assignee_id is not None:
            conditions.append(ReminderRow.assignee_id == assignee_id)
        with self._sessions.begin() as session:
            session.execute(update(ReminderRow).where(*conditions).values(state=CANCELLED))

    def claim_due(
        self, now: datetime, *, limit: int, claimer: str, lease: timedelta
    ) -> list[Reminder]:
        """Take up to ``limit`` due reminders for ``claimer``; nobody else gets them meanwhile.

        Expired claims (a sender died) first, by ``(state, claim_expires_at)``, then pending ones
        by ``(state, due_at)`` in due order: index range scans that never sort everything that is
        due (an OR of the two states made the database sort every due row). On PostgreSQL the
        rows are locked with ``SKIP LOCKED``; on SQLite the UPDATE's own condition makes the
        claim atomic.
        """
        expired = and_(  # a range on (state, claim_expires_at): only the expired ones
            ReminderRow.state == CLAIMED,
            ReminderRow.claim_expires_at < now,
            ReminderRow.due_at <= now,
        )
        pending = and_(ReminderRow.state == PENDING, ReminderRow.due_at <= now)
        with self._sessions.begin() as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            was: dict[int, str] = {}
            for condition, state in ((expired, CLAIMED), (pending, PENDING)):
                if len(was) >= limit:
                    break
                order = ReminderRow.claim_expires_at if state == CLAIMED else ReminderRow.due_at
                candidates = (
                    select(ReminderRow.id)
                    .where(condition)
                    .order_by(order)  # each query's own index order: no sort
                    .limit(limit - len(was))
                )
                if postgres:
                    candidates = candidates.with_for_update(skip_locked=True)
                was.update((row_id, state) for row_id in session.scalars(candidates))
            if not was:
                return []
            claimed = session.execute(
                update(ReminderRow)
                .where(ReminderRow.id.in_(list(was)), or_(expired, pending))
                .values(
                    state=CLAIMED,
                    claimed_by=claimer,
                    claim_expires_at=now + lease,
                    attempts=ReminderRow.attempts + 1,
                )
                .returning(
                    ReminderRow.id,
                    ReminderRow.team_id,
                    ReminderRow.task_id,
                    ReminderRow.handle,
                    ReminderRow.assignee_id,
                    ReminderRow.offset_seconds,
                    ReminderRow.due_at,
                    ReminderRow.attempts,
                    ReminderRow.kind,
                )
                .execution_options(synchronize_session=False)
            )
            return sorted(
                (
                    Reminder(
                        id=r.id,
                        team_id=r.team_id,
                        task_id=r.task_id,
                        handle=r.handle,
                        assignee_id=r.assignee_id,
                        offset_seconds=r.offset_seconds,
                        due_at=r.due_at,
                        attempts=r.attempts,
                        kind=r.kind,
                        taken_over=was[r.id] == CLAIMED,
                    )
                    for r in claimed
                ),
                key=lambda r: r.due_at,
            )

    def mark_sent(self, reminder_id: int, claimer: str, now: datetime) -> bool:
        """False when the claim was lost meanwhile (someone else took over)."""
        return self._finish(reminder_id, claimer, state=SENT, sent_at=now)

    def mark_failed(self, reminder_id: int, claimer: str, error: str) -> bool:
        return self._finish(reminder_id, claimer, state=FAILED, last_error=error[:2000])

    def mark_cancelled(self, reminder_id: int, claimer: str) -> bool:
        """The reminder is moot (part done, task gone): nothing to send."""
        return self._finish(reminder_id, claimer, state=CANCELLED)

    def release(self, reminder_id: int, claimer: str, error: str) -> bool:
        """Give a claimed reminder back to be tried again at the next sweep."""
        return self._finish(reminder_id, claimer, state=PENDING, last_error=error[:2000])

    def add(self, team_id: str, task_id: str, handle: str, item: PlannedReminder) -> None:
        """One more reminder (a snooze), leaving the others as they are."""
        with self._sessions.begin() as session:
            session.add(_row(team_id, task_id, handle, item))

    def replace_digest(self, team_id: str, user_id: str, item: PlannedReminder | None) -> None:
        """The person's next daily digest becomes ``item`` (None: no digest)."""
        with self._sessions.begin() as session:
            session.execute(
                update(ReminderRow)
                .where(
                    ReminderRow.team_id == team_id,
                    ReminderRow.assignee_id == user_id,
                    ReminderRow.kind == ReminderKind.DIGEST,
                    ReminderRow.state == PENDING,
                )
                .values(state=CANCELLED)
            )
            if item is not None:
                session.add(_row(team_id, DIGEST_TASK, "", item))

    def pending_handles(self, team_id: str, user_id: str) -> list[str]:
        """Tasks with reminders still to come for a person (re-planned when their hours change)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ReminderRow.handle)
                .where(
                    ReminderRow.team_id == team_id,
                    ReminderRow.assignee_id == user_id,
                    ReminderRow.kind == ReminderKind.REMIND,
                    ReminderRow.state == PENDING,
                )
                .distinct()
            )
            return sorted(rows)

    def sent_instants(self, team_id: str, task_id: str) -> set[tuple[str, datetime]]:
        """(person, instant) of the task's deadline reminders sent or being sent: a re-plan
        must not send one again at its nominal instant once it went out at its earlier slot."""
        rows = self._task_rows(team_id, task_id)
        return {
            (row.assignee_id, row.due_at)
            for row in rows
            if row.kind == ReminderKind.REMIND and row.state in (SENT, CLAIMED)
        }

    def next_reminder(self, team_id: str, task_id: str, user_id: str) -> datetime | None:
        """The person's next pending deadline reminder for the task; asked only for cards one
        person reads."""
        rows = self._task_rows(team_id, task_id, user_id)
        pending = [r.due_at for r in rows if r.kind == ReminderKind.REMIND and r.state == PENDING]
        return min(pending, default=None)

    def _task_rows(
        self, team_id: str, task_id: str, user_id: str | None = None
    ) -> list[Row[tuple[str, datetime, str, str]]]:
        """A task's ledger rows (a person's, if given), selected on the columns of
        ``ix_reminders_team_task`` alone and filtered here: with a state or an aggregate in the
        query, SQLite preferred ``ix_reminders_state_due`` and scanned every pending reminder."""
        conditions = [ReminderRow.team_id == team_id, ReminderRow.task_id == task_id]
        if user_id is not None:
            conditions.append(ReminderRow.assignee_id == user_id)
        query = select(
            ReminderRow.assignee_id, ReminderRow.due_at, ReminderRow.state, ReminderRow.kind
        ).where(*conditions)
        with self._sessions() as session:
            return list(session.execute(query))

    def renew(self, reminder_id: int, claimer: str, until: datetime) -> bool:
        """Extend a claim just before sending; False when another sender has taken it over."""
        return self._finish(reminder_id, claimer, state=CLAIMED, claim_expires_at=until)

    def _finish(self, reminder_id: int, claimer: str, **values: object) -> bool:
        with self._sessions.begin() as session:
            result = session.execute(
                update(ReminderRow)
                .where(
                    ReminderRow.id == reminder_id,
                    ReminderRow.state == CLAIMED,
                    ReminderRow.claimed_by == claimer,
                )
                .values(**values)
            )
            return rowcount(result) > 0

    def states(self, team_id: str, task_id: str) -> list[tuple[str, int, str]]:
        """(assignee, offset, state) for a task; for tests and diagnostics."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ReminderRow)
                .where(ReminderRow.team_id == team_id, ReminderRow.task_id == task_id)
                .order_by(ReminderRow.id)
            )
            return [(r.assignee_id, r.offset_seconds, r.state) for r in rows]


def _row(team_id: str, task_id: str, handle: str, item: PlannedReminder) -> ReminderRow:
    return ReminderRow(
        team_id=team_id,
        task_id=task_id,
        handle=handle,
        assignee_id=item.user_id,
        offset_seconds=item.offset_seconds,
        due_at=item.at,
        state=PENDING,
        attempts=0,
        kind=item.kind,
    )
