"""Comments both ways: which comment in a task system is which comment of taskbot's, and which
Slack thread messages show it.

A link (``comment_links``) is made when taskbot writes a comment there (``own``: it came from
Slack and is never told back) or first reads one written there. Its ``fingerprint`` is the
comment's text as last read or written, so a pass notices an edit made there; a linked comment
missing from a complete read was deleted there. The thread messages (``comment_messages``) are
recorded when the notifier posts a comment in a card's thread, so an edit or deletion made in the
task system updates or deletes them. A pass's comment changes are written in the same transaction
as the task's own save (``PulledComments.write``, passed to ``SqlAlchemyTaskStore.save``): a task
saved with a new comment always has its link, so the comment is never told twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from storage.tables import CommentLinkRow, CommentMessageRow, CommentRow


class CommentLink(BaseModel):
    model_config = ConfigDict(frozen=True)

    external_id: str
    comment_id: str
    fingerprint: str
    own: bool


@dataclass
class PulledComments:
    """One task's comment changes found by a sync pass, written with the task's save."""

    backend: str
    team_id: str
    task_id: str
    added: list[CommentLink] = field(default_factory=list)
    edited: list[tuple[CommentLink, str | None]] = field(default_factory=list)  # new text
    removed: list[CommentLink] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.edited or self.removed)

    def write(self, session: Session) -> None:
        for link in self.added:
            session.merge(_row(self.backend, self.team_id, self.task_id, link))
        for link, text in self.edited:
            session.execute(
                update(CommentLinkRow)
                .where(_key(self.backend, link.external_id))
                .values(fingerprint=link.fingerprint)
            )
            if text is not None:
                session.execute(
                    update(CommentRow)
                    .where(
                        CommentRow.id == link.comment_id,
                        CommentRow.task_id == self.task_id,
                        CommentRow.event.is_(None),
                    )
                    .values(text=text)
                )
        for link in self.removed:
            session.execute(delete(CommentLinkRow).where(_key(self.backend, link.external_id)))
            session.execute(
                delete(CommentRow).where(
                    CommentRow.id == link.comment_id,
                    CommentRow.task_id == self.task_id,
                    CommentRow.event.is_(None),  # taskbot's event records stay
                )
            )


class SqlAlchemyCommentLinks:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # --- the task system's side (backends) -------------------------------------------------------

    def for_task(self, backend: str, task_id: str) -> dict[str, CommentLink]:
        """The task's linked comments, by the system's comment id."""
        statement = select(CommentLinkRow).where(
            CommentLinkRow.backend == backend, CommentLinkRow.task_id == task_id
        )
        with self._sessions() as session:
            return {row.external_id: _link(row) for row in session.scalars(statement)}

    def for_tasks(self, backend: str, task_ids: Sequence[str]) -> dict[str, dict[str, CommentLink]]:
        """``for_task`` of a batch of tasks in one query (every id given has an entry)."""
        found: dict[str, dict[str, CommentLink]] = {task_id: {} for task_id in task_ids}
        statement = select(CommentLinkRow).where(
            CommentLinkRow.backend == backend, CommentLinkRow.task_id.in_(list(task_ids))
        )
        with self._sessions() as session:
            for row in session.scalars(statement):
                found.setdefault(row.task_id, {})[row.external_id] = _link(row)
        return found

    def record_own(self, backend: str, team_id: str, task_id: str, link: CommentLink) -> None:
        """A comment taskbot just wrote in the system (its id there): never told back."""
        with self._sessions.begin() as session:
            session.merge(_row(backend, team_id, task_id, link))

    def write(self, changes: PulledComments) -> None:
        """Link changes alone (the task itself did not change)."""
        with self._sessions.begin() as session:
            changes.write(session)

    # --- Slack's side (the notifier: the ``CommentThreads`` port) ------------------------------

    def add_message(self, team_id: str, comment_id: str, channel_id: str, message_ts: str) -> None:
        with self._sessions.begin() as session:
            session.merge(
                CommentMessageRow(
                    channel_id=channel_id,
                    message_ts=message_ts,
                    team_id=team_id,
                    comment_id=comment_id,
                )
            )

    def messages(self, team_id: str, comment_id: str) -> list[tuple[str, str]]:
        """(channel, ts) of the thread messages showing a comment."""
        statement = (
            select(CommentMessageRow.channel_id, CommentMessageRow.message_ts)
            .where(CommentMessageRow.team_id == team_id, CommentMessageRow.comment_id == comment_id)
            .order_by(CommentMessageRow.channel_id, CommentMessageRow.message_ts)
        )
        with self._sessions() as session:
            return [(c, ts) for c, ts in session.execute(statement)]

    def forget_messages(self, team_id: str, messages: Sequence[tuple[str, str]]) -> None:
        with self._sessions.begin() as session:
            for channel_id, message_ts in messages:
                session.execute(
                    delete(CommentMessageRow).where(
                        CommentMessageRow.team_id == team_id,
                        CommentMessageRow.channel_id == channel_id,
                        CommentMessageRow.message_ts == message_ts,
                    )
                )


def _link(row: CommentLinkRow) -> CommentLink:
    return CommentLink(
        external_id=row.external_id,
        comment_id=row.comment_id,
        fingerprint=row.fingerprint,
        own=row.own,
    )


def _key(backend: str, external_id: str) -> ColumnElement[bool]:
    return and_(CommentLinkRow.backend == backend, CommentLinkRow.external_id == external_id)


def _row(backend: str, team_id: str, task_id: str, link: CommentLink) -> CommentLinkRow:
    return CommentLinkRow(
        backend=backend,
        external_id=link.external_id,
        team_id=team_id,
        task_id=task_id,
        comment_id=link.comment_id,
        fingerprint=link.fingerprint,
        own=link.own,
    )
