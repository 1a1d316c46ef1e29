"""Which Slack messages show which task (the ``TaskCards`` port), and which version each shows.

Cards never go back in time, across any number of processes: a writer first claims the card for
the version it will write (a compare-and-set in the database: only when the card shows an older
version and nobody is writing it), then calls Slack, then settles the claim, recording the version
as shown. So writes of one card are serialised everywhere, and a write older than what the card
shows or is being given is skipped. The claim is taken *before* the Slack call because only then
does the order of the database's writes match the order of Slack's: recording after the call
would let an older write land last while a newer one is recorded. If the Slack call fails, the
claim is released without recording, so the card stays behind and the card sweep (``behind``)
writes it again. A claim is a lease: a writer that died holding it is taken over when it expires,
and a writer that finds its lease was taken over records at most its own version, so the sweep
rewrites a card whose last write may have been the older one.

Every task save marks the task's cards as wanting the new version in the same transaction
(``mark_behind``), so a process killed between saving a task and updating its cards leaves rows
the sweep finds through the partial index ``ix_task_cards_behind``.

A card one person reads also names their next reminder, which changes without the task changing
(a reminder sent, working hours re-planned). So the order is on the pair (task version, reminder
stamp): ``mark_reader`` bumps the reader's cards' ``wanted_stamp`` after the ledger changed, a
claim takes the stamp it will show at the moment it is granted, and the writer reads the ledger
only after that, under the claim. A card showing version v is claimed again at v only while its
stamp is behind; a version older than the card's is never claimed. Cards whose stamp is behind
are the sweep's too (``ix_task_cards_stamp_behind``).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from enum import Enum

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.domain.models import CardClaim, CardKind, CardRef
from storage.engine import rowcount
from storage.tables import TaskCardRow, TaskRow

CLAIM_LEASE_SECONDS = 15.0  # longer than a Slack call may take (the WebClient gives up at 10 s)
FIRST_BACKOFF, LONGEST_BACKOFF = 0.02, 0.25
# Cards that name their reader's next reminder and are rewritten when it changes.
READER_KINDS = (CardKind.ASSIGNEE_DM.value, CardKind.ASSIGNOR_DM.value)


class _Outcome(Enum):
    CLAIMED = "claimed"
    SKIP = "skip"  # the card shows this version or newer, or a newer one is being written
    BUSY = "busy"  # an older version is being written now: try again once it is settled


def mark_behind(session: Session, team_id: str, task_id: str, version: int) -> None:
    """Inside a task's save: its cards now want ``version`` (same transaction as the save)."""
    session.execute(
        update(TaskCardRow)
        .where(
            TaskCardRow.team_id == team_id,
            TaskCardRow.task_id == task_id,
            TaskCardRow.wanted_version < version,
        )
        .values(wanted_version=version)
        .execution_options(synchronize_session=False)
    )


class SqlAlchemyTaskCards:
    def __init__(
        self, sessions: sessionmaker[Session], *, lease_seconds: float = CLAIM_LEASE_SECONDS
    ) -> None:
        self._sessions = sessions
        self._lease = timedelta(seconds=lease_seconds)

    def add(self, card: CardRef, version: int = 0) -> None:
        """Record a message just posted showing ``version``. Recording the same message twice is
        harmless (Slack retries, re-posts). If the task has moved on meanwhile, the card is
        recorded as behind (its task row is read under a share lock, so a concurrent save either
        sees this card or is seen by it)."""
        try:
            with self._sessions.begin() as session:
                current = session.scalar(
                    select(TaskRow.version)
                    .where(TaskRow.id == card.task_id)
                    .with_for_update(read=True)
                )
                session.add(
                    TaskCardRow(
                        team_id=card.team_id,
                        task_id=card.task_id,
                        channel_id=card.channel_id,
                        message_ts=card.message_ts,
                        kind=card.kind.value,
                        user_id=card.user_id,
                        shown_version=version,
                        wanted_version=max(version, current or 0),
                    )
                )
        except IntegrityError:
            return

    def for_task(self, team_id: str, task_id: str) -> list[CardRef]:
        statement = (
            select(TaskCardRow)
            .where(TaskCardRow.team_id == team_id, TaskCardRow.task_id == task_id)
            .order_by(TaskCardRow.id)
        )
        with self._sessions() as session:
            return [_ref(row) for row in session.scalars(statement)]

    def behind(self, limit: int) -> list[CardRef]:
        """Cards showing an older version than their task's, that nobody is writing now; oldest
        first, at most ``limit`` (read through the partial index of behind cards)."""
        now = wall_now()
        found: dict[int, TaskCardRow] = {}
        with self._sessions() as session:
            for behind in (  # one query per partial index: an OR of the two would scan them all
                TaskCardRow.shown_version < TaskCardRow.wanted_version,
                TaskCardRow.shown_stamp < TaskCardRow.wanted_stamp,
            ):
                statement = (
                    select(TaskCardRow)
                    .where(behind, unclaimed(TaskCardRow.claim_expires_at, now))
                    .order_by(TaskCardRow.id)
                    .limit(limit)
                )
                found.update((row.id, row) for row in session.scalars(statement))
            return [_ref(found[key]) for key in sorted(found)[:limit]]

    def mark_reader(self, team_id: str, task_id: str, user_id: str) -> list[CardRef]:
        """After the reader's reminders changed in the ledger: their own cards of the task (not
        reminder DMs, which are dated messages) now want a newer stamp; returns them, to write."""
        reader = (
            (TaskCardRow.team_id == team_id)
            & (TaskCardRow.task_id == task_id)
            & (TaskCardRow.user_id == user_id)
            & TaskCardRow.kind.in_(READER_KINDS)
        )
        with self._sessions.begin() as session:
            session.execute(
                update(TaskCardRow)
                .where(reader)
                .values(wanted_stamp=TaskCardRow.wanted_stamp + 1)
                .execution_options(synchronize_session=False)
            )
            rows = session.scalars(select(TaskCardRow).where(reader).order_by(TaskCardRow.id))
            return [_ref(row) for row in rows]

    def claim(
        self, channel_id: str, message_ts: str, version: int, *, wait: float = 0.0
    ) -> CardClaim | None:
        """The right to write ``version`` into this card, or None when the write is not needed
        (the card shows it or newer, a newer one is being written, or the card is gone). While
        an older version is being written, waits up to ``wait`` seconds for it to settle; after
        that None too (the card is behind, so the sweep writes it)."""
        deadline = time.monotonic() + wait
        backoff = FIRST_BACKOFF
        while True:
            outcome, claim = self._try_claim(channel_id, message_ts, version)
            if outcome is not _Outcome.BUSY:
                return claim
            if time.monotonic() + backoff > deadline:
                return None
            time.sleep(backoff)
            backoff = min(backoff * 2, LONGEST_BACKOFF)

    def _try_claim(
        self, channel_id: str, message_ts: str, version: int
    ) -> tuple[_Outcome, CardClaim | None]:
        now, token = wall_now(), uuid.uuid4().hex
        with self._sessions.begin() as session:
            stamp = session.execute(
                update(TaskCardRow)
                .where(
                    _message(channel_id, message_ts),
                    or_(
                        TaskCardRow.shown_version < version,
                        and_(
                            TaskCardRow.shown_version == version,
                            TaskCardRow.shown_stamp < TaskCardRow.wanted_stamp,
                        ),
                    ),
                    unclaimed(TaskCardRow.claim_expires_at, now),
                )
                .values(
                    claim_token=token,
                    claim_version=version,
                    claim_stamp=TaskCardRow.wanted_stamp,
                    claim_expires_at=now + self._lease,
                    wanted_version=case(
                        (TaskCardRow.wanted_version < version, version),
                        else_=TaskCardRow.wanted_version,
                    ),
                )
                .returning(TaskCardRow.wanted_stamp)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if stamp is not None:
                claim = CardClaim(
                    channel_id=channel_id,
                    message_ts=message_ts,
                    version=version,
                    token=token,
                    stamp=stamp,
                )
                return _Outcome.CLAIMED, claim
            row = session.execute(
                select(
                    TaskCardRow.shown_version,
                    TaskCardRow.shown_stamp,
                    TaskCardRow.wanted_stamp,
                    TaskCardRow.claim_version,
                    TaskCardRow.claim_stamp,
                    TaskCardRow.claim_expires_at,
                ).where(_message(channel_id, message_ts))
            ).one_or_none()
        if row is None or (row.shown_version, row.shown_stamp) >= (version, row.wanted_stamp):
            return _Outcome.SKIP, None
        live = row.claim_expires_at is not None and row.claim_expires_at >= now
        if live and (row.claim_version or 0, row.claim_stamp or 0) >= (version, row.wanted_stamp):
            return _Outcome.SKIP, None  # a write at least as new is under way
        return _Outcome.BUSY, None

    def settle(self, claim: CardClaim, *, shown: bool) -> None:
        """End a claim after the Slack call: ``shown`` records its version as the card's."""
        values: dict[str, object] = {
            "claim_token": None,
            "claim_version": None,
            "claim_stamp": None,
            "claim_expires_at": None,
        }
        if shown:
            values["shown_version"] = claim.version
            values["shown_stamp"] = case(
                (TaskCardRow.shown_stamp < claim.stamp, claim.stamp),
                else_=TaskCardRow.shown_stamp,
            )
        with self._sessions.begin() as session:
            result = session.execute(
                update(TaskCardRow)
                .where(
                    _message(claim.channel_id, claim.message_ts),
                    TaskCardRow.claim_token == claim.token,
                )
                .values(values)
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) == 1:
                return
            # Our lease ran out and another writer took the card over: our write may have landed
            # after theirs. Record at most our version and end their claim, so neither write
            # hides behind a newer record; the sweep rewrites the card with the current task.
            session.execute(
                update(TaskCardRow)
                .where(_message(claim.channel_id, claim.message_ts))
                .values(
                    claim_token=None,
                    claim_version=None,
                    claim_stamp=None,
                    claim_expires_at=None,
                    shown_version=case(
                        (TaskCardRow.shown_version > claim.version, claim.version),
                        else_=TaskCardRow.shown_version,
                    ),
                    shown_stamp=case(
                        (TaskCardRow.shown_stamp > claim.stamp, claim.stamp),
                        else_=TaskCardRow.shown_stamp,
                    ),
                )
                .execution_options(synchronize_session=False)
            )

    def remove(self, team_id: str, channel_id: str, message_ts: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                delete(TaskCardRow).where(
                    TaskCardRow.team_id == team_id,
                    TaskCardRow.channel_id == channel_id,
                    TaskCardRow.message_ts == message_ts,
                )
            )


def wall_now() -> datetime:
    """Wall time for leases (not the app's clock, which tests may hold still)."""
    return datetime.now(UTC)


def _message(channel_id: str, message_ts: str) -> ColumnElement[bool]:
    return (TaskCardRow.channel_id == channel_id) & (TaskCardRow.message_ts == message_ts)


def unclaimed(
    expires_at: InstrumentedAttribute[datetime | None], now: datetime
) -> ColumnElement[bool]:
    """No claim, or one whose lease has run out."""
    return or_(expires_at.is_(None), expires_at < now)


def _ref(row: TaskCardRow) -> CardRef:
    return CardRef(
        team_id=row.team_id,
        task_id=row.task_id,
        channel_id=row.channel_id,
        message_ts=row.message_ts,
        kind=CardKind(row.kind),
        user_id=row.user_id,
    )
