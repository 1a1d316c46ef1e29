"""Which Slack messages show which task (the ``TaskCards`` port)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.models import CardKind, CardRef
from storage.tables import TaskCardRow


class SqlAlchemyTaskCards:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, card: CardRef) -> None:
        """Recording the same message twice is harmless (Slack retries, re-posts)."""
        try:
            with self._sessions.begin() as session:
                session.add(
                    TaskCardRow(
                        team_id=card.team_id,
                        task_id=card.task_id,
                        channel_id=card.channel_id,
                        message_ts=card.message_ts,
                        kind=card.kind.value,
                        user_id=card.user_id,
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
            return [
                CardRef(
                    team_id=row.team_id,
                    task_id=row.task_id,
                    channel_id=row.channel_id,
                    message_ts=row.message_ts,
                    kind=CardKind(row.kind),
                    user_id=row.user_id,
                )
                for row in session.scalars(statement)
            ]

    def remove(self, team_id: str, channel_id: str, message_ts: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                delete(TaskCardRow).where(
                    TaskCardRow.team_id == team_id,
                    TaskCardRow.channel_id == channel_id,
                    TaskCardRow.message_ts == message_ts,
                )
            )
