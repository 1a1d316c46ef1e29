"""Slack users and groups ↔ each task system's assignee ids, per workspace."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.errors import InvalidInput
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import AssigneeKind
from storage.engine import rowcount
from storage.tables import UserMapRow


class SqlAlchemyUserMap:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, team_id: str, backend: str, slack_id: str) -> UserLink | None:
        with self._sessions() as session:
            row = session.get(UserMapRow, (team_id, backend, slack_id))
            return _mapping(row) if row else None

    def by_assignee(
        self, team_id: str, backend: str, kind: AssigneeKind, assignee_id: str
    ) -> UserLink | None:
        statement = select(UserMapRow).where(
            UserMapRow.team_id == team_id,
            UserMapRow.backend == backend,
            UserMapRow.kind == kind,
            UserMapRow.assignee_id == assignee_id,
        )
        with self._sessions() as session:
            row = session.scalars(statement).one_or_none()
            return _mapping(row) if row else None

    def set(self, mapping: UserLink, *, force: bool = False) -> None:
        """One assignee id per backend per workspace: a second Slack id is refused unless forced."""
        self.set_all([mapping], force=force)

    def set_all(self, mappings: list[UserLink], *, force: bool = False) -> None:
        """All of them or (on any refusal) none. Two workers linking the same person at once
        (email auto-link) both read "no link" and insert; the loser tries once more and then
        finds the winner's row, instead of failing the person's command."""
        for attempt in range(2):
            try:
                with self._sessions.begin() as session:
                    for mapping in mappings:
                        set_link(session, mapping, force=force)
                return
            except IntegrityError:
                if attempt:
                    raise

    def remove(self, team_id: str, backend: str, slack_id: str) -> bool:
        with self._sessions.begin() as session:
            result = session.execute(
                delete(UserMapRow).where(
                    UserMapRow.team_id == team_id,
                    UserMapRow.backend == backend,
                    UserMapRow.slack_id == slack_id,
                )
            )
            return rowcount(result) > 0

    def list_all(self) -> list[UserLink]:
        """Every link of every workspace (``taskbot users export``)."""
        statement = select(UserMapRow).order_by(
            UserMapRow.team_id, UserMapRow.backend, UserMapRow.slack_id
        )
        with self._sessions() as session:
            return [_mapping(row) for row in session.scalars(statement)]

    def list(self, team_id: str, backend: str) -> list[UserLink]:
        statement = (
            select(UserMapRow)
            .where(UserMapRow.team_id == team_id, UserMapRow.backend == backend)
            .order_by(UserMapRow.slack_id)
        )
        with self._sessions() as session:
            return [_mapping(row) for row in session.scalars(statement)]


def set_link(session: Session, mapping: UserLink, *, force: bool = False) -> None:
    """Set one link inside the caller's transaction; InvalidInput when the assignee id is
    someone else's (unless forced), before anything is written."""
    taken = session.scalars(
        select(UserMapRow).where(
            UserMapRow.team_id == mapping.team_id,
            UserMapRow.backend == mapping.backend,
            UserMapRow.kind == mapping.kind,
            UserMapRow.assignee_id == mapping.assignee_id,
            UserMapRow.slack_id != mapping.slack_id,
        )
    ).one_or_none()
    if taken is not None:
        if not force:
            raise InvalidInput(
                {
                    "assignee": f"{mapping.assignee_id} is already linked to "
                    f"{taken.slack_id}; an admin can move it."
                }
            )
        session.delete(taken)
        session.flush()
    session.merge(
        UserMapRow(
            team_id=mapping.team_id,
            backend=mapping.backend,
            slack_id=mapping.slack_id,
            kind=mapping.kind,
            assignee_id=mapping.assignee_id,
            how=mapping.how,
            set_by=mapping.set_by,
            set_at=mapping.set_at,
        )
    )


def _mapping(row: UserMapRow) -> UserLink:
    return UserLink(
        team_id=row.team_id,
        backend=row.backend,
        slack_id=row.slack_id,
        kind=AssigneeKind(row.kind),
        assignee_id=row.assignee_id,
        how=LinkHow(row.how),
        set_by=row.set_by,
        set_at=row.set_at,
    )
