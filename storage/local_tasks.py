"""The embedded task store: whole tasks in, whole tasks out, with optimistic versions.

Every write is one transaction; a save whose version is stale changes nothing and raises
Conflict carrying the stored task.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.domain import rules
from bot.domain.errors import AlreadyApplied, Conflict, NotFound
from bot.domain.events import NOTICE_KIND, Effect
from bot.domain.models import (
    Assignee,
    AssigneeKind,
    Attachment,
    AttachmentKind,
    Comment,
    CommentEvent,
    Part,
    PartState,
    Task,
    TaskDraft,
    TaskPage,
    TaskQuery,
    format_handle,
    parse_handle,
)
from storage.dialects import dialect_insert
from storage.engine import rowcount
from storage.job_ledger import NewJob, insert_jobs, job_exists
from storage.tables import (
    AttachmentRow,
    CommentRow,
    HandleCounterRow,
    PartRow,
    TaskRow,
    list_due,
)
from storage.task_cards import mark_behind
from storage.task_lists import list_page, task_of

LOAD_CHUNK = 500  # ids per IN (…) of ``load_many``: well under every database's bound


class SqlAlchemyTaskStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @property
    def sessions(self) -> sessionmaker[Session]:
        """For the stores that keep what goes with a task (``storage.comment_links``)."""
        return self._sessions

    def create(
        self,
        draft: TaskDraft,
        now: datetime,
        *,
        task_id: str | None = None,
        effect: Effect | None = None,
    ) -> Task:
        """A new task numbered in its workspace; ``task_id`` when another system gave it.

        With an ``effect``, a second create with its key changes nothing and raises
        AlreadyApplied with the first one's task; the first queues its notifications in the
        same transaction."""
        try:
            with self._sessions.begin() as session:
                if effect is not None:
                    _refuse_replayed_create(session, effect.key)
                number = _next_number(session, draft.team_id)
                task = rules.new_task(
                    draft,
                    task_id=task_id or uuid.uuid4().hex,
                    handle=format_handle(number),
                    now=now,
                )
                row = TaskRow(
                    id=task.id,
                    team_id=task.team_id,
                    number=number,
                    create_key=effect.key if effect else None,
                )
                _write(row, task)
                session.add(row)
                if effect is not None:
                    session.flush()
                    _queue_notice(session, notice_job(effect, task))
        except IntegrityError:
            if effect is None:
                raise
            with self._sessions() as session:  # a concurrent replay won: theirs is the task
                _refuse_replayed_create(session, effect.key)
            raise
        return task

    def created(self, key: str) -> Task | None:
        """The task a keyed create made, if it happened (a replay must not push it again)."""
        with self._sessions() as session:
            row = session.scalars(select(TaskRow).where(TaskRow.create_key == key)).one_or_none()
            return _to_task(row) if row is not None else None

    def applied(self, effect: Effect) -> bool:
        """Whether a keyed change was saved already (its notifications are queued)."""
        with self._sessions() as session:
            return job_exists(session, effect.notice_key)

    def get(self, team_id: str, handle: str) -> Task:
        with self._sessions() as session:
            return _to_task(_row(session, team_id, handle))

    def find(self, task_id: str) -> Task | None:
        """The live task with this id (a mirrored system's), if taskbot has it."""
        with self._sessions() as session:
            row = session.get(TaskRow, task_id)
            return _to_task(row) if row is not None and row.deleted_at is None else None

    def load(self, task_id: str) -> Task | None:
        """The task with this id as stored, deleted ones too (marked ``deleted``): what its
        cards must show."""
        with self._sessions() as session:
            row = session.get(TaskRow, task_id)
            return _to_task(row) if row is not None else None

    def load_many(self, task_ids: Sequence[str]) -> list[Task]:
        """The live tasks with these ids (missing and deleted ones left out), a few queries per
        hundreds of tasks (the rows' relationships load by ``selectin``): what a sync pass
        compares with the task system's copies."""
        found: list[Task] = []
        with self._sessions() as session:
            for start in range(0, len(task_ids), LOAD_CHUNK):
                statement = select(TaskRow).where(
                    TaskRow.id.in_(task_ids[start : start + LOAD_CHUNK]),
                    TaskRow.deleted_at.is_(None),
                )
                found.extend(_to_task(row) for row in session.scalars(statement))
        return found

    def versions(self, task_ids: Sequence[str]) -> dict[str, int]:
        """The stored version of each live task with these ids (one light query per chunk): a
        sync pass reads whole tasks only where something may have changed."""
        found: dict[str, int] = {}
        with self._sessions() as session:
            for start in range(0, len(task_ids), LOAD_CHUNK):
                statement = select(TaskRow.id, TaskRow.version).where(
                    TaskRow.id.in_(task_ids[start : start + LOAD_CHUNK]),
                    TaskRow.deleted_at.is_(None),
                )
                found.update({task_id: version for task_id, version in session.execute(statement)})
        return found

    def adopt(
        self,
        team_id: str,
        task_id: str,
        build: Callable[[str], Task],
        *,
        effect: Effect | None = None,
    ) -> Task:
        """Number a task another system made (``build`` gets its handle) and store it as is;
        with an ``effect``, the job that tells its people is queued in the same transaction."""
        with self._sessions.begin() as session:
            number = _next_number(session, team_id)
            task = build(format_handle(number))
            row = TaskRow(id=task_id, team_id=team_id, number=number)
            _write(row, task)
            session.add(row)
            if effect is not None:
                session.flush()  # the task row before its job, as in ``save``
                _queue_notice(session, notice_job(effect, task))
        return task

    def save(
        self,
        task: Task,
        expected_version: int,
        *,
        effect: Effect | None = None,
        also: Callable[[Session], None] | None = None,
    ) -> Task:
        """Store the task if nobody changed it since ``expected_version``; with an ``effect``,
        only once per key, and with its notifications queued in the same transaction; ``also``
        writes what goes with the change in that transaction (a sync pass's comment links)."""
        notice = None if effect is None else notice_job(effect, task)  # before the write lock
        try:
            with self._sessions.begin() as session:
                row = _row(session, task.team_id, task.handle)
                if effect is not None and job_exists(session, effect.notice_key):
                    raise AlreadyApplied(f"{task.handle}: already done.", current=_to_task(row))
                if row.version != expected_version:
                    raise Conflict(
                        f"{task.handle} changed since you last saw it.", current=_to_task(row)
                    )
                _write(row, task)  # the UPDATE checks the version it read (StaleDataError)
                session.flush()  # the task row first: the same lock order as TaskCards.add
                mark_behind(session, task.team_id, task.id, task.version)
                if also is not None:
                    also(session)
                if notice is not None:
                    if not _queue_notice(session, notice):  # a concurrent replay won
                        raise AlreadyApplied(
                            f"{task.handle}: already done.",
                            current=self.get(task.team_id, task.handle),
                        )
        except StaleDataError:  # someone saved between our read and our write
            raise Conflict(
                f"{task.handle} changed since you last saw it.",
                current=self.get(task.team_id, task.handle),
            ) from None
        return task

    def delete(self, team_id: str, handle: str, expected_version: int, now: datetime) -> None:
        with self._sessions.begin() as session:
            row = _row(session, team_id, handle, for_update=True)
            result = session.execute(
                update(TaskRow)
                .where(TaskRow.id == row.id, TaskRow.version == expected_version)
                .values(deleted_at=now, is_open=False, version=expected_version + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                session.rollback()
                raise Conflict(
                    f"{handle} changed since you last saw it.", current=self.get(team_id, handle)
                )
            session.execute(  # the parts' copy of the open state (lists read it)
                update(PartRow)
                .where(PartRow.task_id == row.id)
                .values(task_open=False)
                .execution_options(synchronize_session=False)
            )
            mark_behind(session, team_id, row.id, expected_version + 1)

    def mirrored(self, prefix: str) -> list[tuple[str, str, str]]:
        """(team, handle, id) of live tasks whose id starts with ``prefix``: the tasks taskbot
        mirrors from another system, for its sync."""
        statement = select(TaskRow.team_id, TaskRow.number, TaskRow.id).where(
            TaskRow.id.startswith(prefix, autoescape=True), TaskRow.deleted_at.is_(None)
        )
        with self._sessions() as session:
            return [(t, format_handle(n), i) for t, n, i in session.execute(statement)]

    def mirrored_assigned(self, prefix: str) -> list[tuple[str, str, str]]:
        """(team, handle, id) of the open ones of ``mirrored`` that someone is assigned: what a
        sync that learns of the others otherwise (Maxsight's searches) still reads one by one."""
        assigned = select(PartRow.task_id).where(PartRow.task_id == TaskRow.id).exists()
        statement = select(TaskRow.team_id, TaskRow.number, TaskRow.id).where(
            TaskRow.id.startswith(prefix, autoescape=True),
            TaskRow.deleted_at.is_(None),
            TaskRow.is_open.is_(True),
            assigned,
        )
        with self._sessions() as session:
            return [(t, format_handle(n), i) for t, n, i in session.execute(statement)]

    def list(self, query: TaskQuery) -> TaskPage:
        """One page of a list, from the person's own rows (``storage.task_lists``)."""
        with self._sessions() as session:
            return list_page(session, query)


def _refuse_replayed_create(session: Session, key: str) -> None:
    row = session.scalars(select(TaskRow).where(TaskRow.create_key == key)).one_or_none()
    if row is not None:
        task = _to_task(row)
        raise AlreadyApplied(f"{task.handle} was created already.", current=task)


NOTICE_GRACE = timedelta(seconds=2)
"""How long a queued notice is left to the worker that made the change (it runs it at once, so
people hear before the actor's reply); after that, or if that worker died, any worker takes it."""


def _queue_notice(session: Session, notice: NewJob) -> bool:
    return insert_jobs(session, [notice], datetime.now(UTC)) == 1


def notice_job(effect: Effect, task: Task) -> NewJob:
    """The job telling people of a change. ``save`` builds it (serialises its payload) before
    its transaction writes: on SQLite, while a transaction writes, every other writer waits,
    acks included. A create or an adoption can't: the handle is numbered in the transaction."""
    return NewJob(
        kind=NOTICE_KIND, key=effect.notice_key, payload=effect.notice(task), delay=NOTICE_GRACE
    )


def _next_number(session: Session, team_id: str) -> int:
    """Atomic per-workspace counter: one upsert, serialised by the database."""
    statement = (
        dialect_insert(session.get_bind().dialect.name, HandleCounterRow)
        .values(team_id=team_id, last_number=1)
        .on_conflict_do_update(
            index_elements=[HandleCounterRow.team_id],
            set_={"last_number": HandleCounterRow.last_number + 1},
        )
        .returning(HandleCounterRow.last_number)
    )
    return int(session.execute(statement).scalar_one())


def _row(session: Session, team_id: str, handle: str, *, for_update: bool = False) -> TaskRow:
    number = parse_handle(handle)
    statement = select(TaskRow).where(TaskRow.team_id == team_id, TaskRow.number == number)
    if for_update:
        statement = statement.with_for_update()
    row = session.scalars(statement).one_or_none() if number is not None else None
    if row is None:
        raise NotFound(f"There is no task {handle} in this workspace.")
    if row.deleted_at is not None:
        raise NotFound(f"{format_handle(row.number)} was deleted.")
    return row


def _write_parts(row: TaskRow, task: Task) -> None:
    """The same assignees in the same order (a part done or undone, a title edited): their rows
    are updated where they are, and only the columns that changed are written. Otherwise the
    rows are replaced. (Replacing them every time, the ORM came to the same UPDATE through new
    objects and a "row switch": CPU spent while the change held SQLite's write lock, which acks
    wait for.)"""
    wanted = [(p.assignee.kind.value, p.assignee.id) for p in task.parts]
    if [(r.assignee_kind, r.assignee_id) for r in row.parts] != wanted:
        row.parts = [
            PartRow(assignee_kind=kind, assignee_id=assignee_id, position=i)
            for i, (kind, assignee_id) in enumerate(wanted)
        ]
    for part_row, part in zip(row.parts, task.parts, strict=True):
        part_row.team_id = task.team_id
        part_row.state = part.state.value
        part_row.done_by = part.done_by
        part_row.done_at = part.done_at
        part_row.task_open = task.is_open
        part_row.list_due = row.list_due
        part_row.task_number = row.number


def _write(row: TaskRow, task: Task) -> None:
    """Copy a domain task onto its rows (the version is already set by the caller), the list
    order's columns onto each part too: every list reads them from there."""
    row.title = task.title
    row.description = task.description
    row.due_date = task.due.date if task.due else None
    row.due_time = task.due.time if task.due else None
    row.due_tz = task.due.tz if task.due else None
    row.due_at = task.due_instant()
    row.list_due = list_due(row.due_at)
    row.condition = task.condition.value
    row.status = task.status.value
    row.is_open = task.is_open
    row.assignor = task.assignor
    row.channel_id = task.channel_id
    row.created_at = task.created_at
    row.updated_at = task.updated_at
    row.version = task.version
    _write_parts(row, task)
    known = {c.id for c in row.comments}
    # after a comment deleted in a task system, positions have gaps: new ones go after the last
    last = max((c.position for c in row.comments), default=-1)
    for i, comment in enumerate(task.comments):
        if comment.id not in known:  # comments are append-only
            last = max(i, last + 1)
            row.comments.append(
                CommentRow(
                    id=comment.id,
                    position=last,
                    author=comment.author,
                    text=comment.text,
                    created_at=comment.created_at,
                    event=comment.event.value if comment.event else None,
                    subjects=" ".join(comment.subjects),
                    origin=comment.origin,
                )
            )
    row.attachments = [
        AttachmentRow(
            position=i,
            kind=a.kind.value,
            url=a.url,
            entity_type=a.entity_type,
            entity_id=a.entity_id,
            title=a.title,
        )
        for i, a in enumerate(task.attachments)
    ]


def _to_task(row: TaskRow) -> Task:
    return task_of(
        row,
        (
            Part(
                assignee=Assignee(kind=AssigneeKind(p.assignee_kind), id=p.assignee_id),
                state=PartState(p.state),
                done_by=p.done_by,
                done_at=p.done_at,
            )
            for p in row.parts
        ),
        comments=tuple(
            Comment(
                id=c.id,
                author=c.author,
                text=c.text,
                created_at=c.created_at,
                event=CommentEvent(c.event) if c.event else None,
                subjects=tuple(c.subjects.split()) if c.subjects else (),
                origin=c.origin,
            )
            for c in row.comments
        ),
        attachments=tuple(
            Attachment(
                kind=AttachmentKind(a.kind),
                url=a.url,
                entity_type=a.entity_type,
                entity_id=a.entity_id,
                title=a.title,
            )
            for a in row.attachments
        ),
        deleted=row.deleted_at is not None,
    )
