"""Sign-ins in progress (account linking): each state is kept as a SHA-256 hash and used once.

The state travels in URLs (the sign-in link, the task system's redirect), so the table holds
only its hash; consuming it deletes the row in one statement, so two callbacks carrying the same
state can't both succeed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from storage.tables import LinkStateRow


@dataclass(frozen=True)
class PendingLink:
    team_id: str
    slack_id: str


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class SqlAlchemyLinkStates:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(
        self, state: str, backend: str, link: PendingLink, *, expires_at: datetime, now: datetime
    ) -> None:
        """Remember a new sign-in (and forget the ones that expired)."""
        with self._sessions.begin() as session:
            session.execute(delete(LinkStateRow).where(LinkStateRow.expires_at <= now))
            session.add(
                LinkStateRow(
                    state_hash=_hash(state),
                    team_id=link.team_id,
                    slack_id=link.slack_id,
                    backend=backend,
                    expires_at=expires_at,
                )
            )

    def peek(self, state: str, backend: str, now: datetime) -> PendingLink | None:
        """The sign-in ``state`` starts, if it is still open (not used, not expired)."""
        statement = select(LinkStateRow).where(
            LinkStateRow.state_hash == _hash(state),
            LinkStateRow.backend == backend,
            LinkStateRow.expires_at > now,
        )
        with self._sessions() as session:
            row = session.scalars(statement).one_or_none()
            return PendingLink(row.team_id, row.slack_id) if row else None

    def consume(self, state: str, backend: str, now: datetime) -> PendingLink | None:
        """The sign-in ``state`` finishes, removed so it can't finish again; None if it was
        unknown, used or expired."""
        statement = (
            delete(LinkStateRow)
            .where(LinkStateRow.state_hash == _hash(state), LinkStateRow.backend == backend)
            .returning(LinkStateRow.team_id, LinkStateRow.slack_id, LinkStateRow.expires_at)
        )
        with self._sessions.begin() as session:
            row = session.execute(statement).one_or_none()
        if row is None or row.expires_at <= now:
            return None
        return PendingLink(row.team_id, row.slack_id)
