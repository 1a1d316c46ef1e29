"""Lists of open tasks (``/task mine|list|assigned|overdue``, App Home), one statement a page.

Every list starts from the person's own rows, each source a range of an index that holds them in
list order (``list_due``, then handle number): ix_task_parts_list for the tasks assigned to the
person and to each of their groups (the parts carry copies of their task's open state and list
order, see ``storage.tables``), ix_tasks_team_assignor_list for the tasks they assigned,
ix_tasks_team_channel_list for a channel's. Each range is read in order and stops after the
page (plus one row: whether another page follows); the ranges meet in a UNION (an OR would walk
every open task of the workspace), whose first rows are the page. So a page reads about as many
index rows however many tasks the person has and however big the store is. Then the page's
tasks are read by key with their parts; comments and attachments, which no list shows, are not.
The list's length comes in the same statement from the same ranges, counted in the index alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    Subquery,
    bindparam,
    func,
    select,
    tuple_,
    union,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from bot.domain.models import (
    Assignee,
    AssigneeKind,
    Attachment,
    Comment,
    CompletionCondition,
    Due,
    ListView,
    Part,
    PartState,
    Status,
    Task,
    TaskPage,
    TaskQuery,
    format_handle,
)
from storage.tables import PartRow, TaskRow, list_due
from storage.types import UtcDateTime

TASKS = TaskRow.__table__
PARTS = PartRow.__table__
TASK_COLUMNS = (
    "id team_id number title description due_date due_time due_tz due_at condition status "
    "assignor channel_id created_at updated_at version"
).split()
PART_COLUMNS = ("assignee_kind", "assignee_id", "state", "done_by", "done_at", "position")


def list_page(session: Session, query: TaskQuery) -> TaskPage:
    """One page of a list, in the list order (soonest due first, undated last, then handle)."""
    shape, values = _shape(query)
    rows = session.execute(_statement(shape), values).all()
    tasks = _tasks(rows)
    more = len(tasks) > query.limit
    tasks = tasks[: query.limit]
    backwards = shape.direction is Direction.BEFORE
    if backwards:
        tasks.reverse()
    return TaskPage(
        tasks,
        total=int(rows[0].total) if rows else _empty_total(session, shape, values),
        more_before=more if backwards else shape.direction is Direction.AFTER,
        more_after=True if backwards else more,
    )


def _empty_total(session: Session, shape: Shape, values: dict[str, Any]) -> int:
    """The count when the page itself is empty (a page past the end): one more statement, only
    then."""
    if shape.direction is Direction.FIRST:
        return 0
    return int(session.scalar(_count(shape), values) or 0)


class Direction(Enum):
    FIRST = "first"
    AFTER = "after"
    BEFORE = "before"


class Shape(NamedTuple):
    """What a list's statement depends on besides its values: statements are built once per
    shape (building one costs more than running it) and run with the query's values."""

    view: ListView
    groups: int  # one range each; beyond GROUP_RANGES, one range for all (-1)
    direction: Direction
    overdue: bool


GROUP_RANGES = 16
"""A range of its own for each of up to this many groups; a person in more (rare) gets one range
for all their groups, sorted by the database (SQLite allows 500 terms in a UNION)."""


def _shape(query: TaskQuery) -> tuple[Shape, dict[str, Any]]:
    key = query.after or query.before
    direction = (
        Direction.AFTER if query.after else Direction.BEFORE if query.before else Direction.FIRST
    )
    values: dict[str, Any] = {
        "team": query.team_id,
        "user": query.user_id or "",
        "channel": query.channel_id,
        "now": query.now,
        "key_due": list_due(key.due_at) if key else None,
        "key_number": key.number if key else None,
        "limit": query.limit + 1,  # one more: whether another page follows
    }
    groups = sorted(query.group_ids)
    values.update({f"group_{i}": group for i, group in enumerate(groups)}, groups=groups)
    overdue = query.view is ListView.OVERDUE and query.now is not None
    ranges = len(groups) if len(groups) <= GROUP_RANGES else -1
    return Shape(query.view, ranges, direction, overdue), values


@dataclass(frozen=True)
class _Range:
    """One source of a person's list: an index range whose rows come in list order."""

    id: ColumnElement[Any]
    due: ColumnElement[Any]  # list_due
    number: ColumnElement[Any]
    where: tuple[ColumnElement[bool], ...]

    def keys(self) -> Select[Any]:
        return select(self.id.label("id")).where(*self.where)

    def page(self, direction: Direction) -> Select[Any]:
        """The range's first rows past the page's start: the most the page can take."""
        statement = select(
            self.id.label("id"), self.due.label("list_due"), self.number.label("number")
        ).where(*self.where)
        here = tuple_(self.due, self.number)
        there = tuple_(bindparam("key_due", type_=UtcDateTime()), bindparam("key_number"))
        if direction is Direction.AFTER:
            statement = statement.where(here > there).order_by(self.due, self.number)
        elif direction is Direction.BEFORE:
            statement = statement.where(here < there).order_by(self.due.desc(), self.number.desc())
        else:
            statement = statement.order_by(self.due, self.number)
        return statement.limit(LIMIT)


LIMIT = bindparam("limit", type_=Integer())


def _ranges(shape: Shape) -> list[_Range]:
    """The person's own rows, one index range each (each group its own: ``IN`` would lose the
    order)."""
    if shape.view is ListView.CHANNEL:
        return [_tasks_range(TASKS.c.channel_id == bindparam("channel"), shape)]
    ranges: list[_Range] = []
    if shape.view is not ListView.ASSIGNED:
        ranges.append(_parts_range(AssigneeKind.USER, bindparam("user"), shape))
        for i in range(shape.groups):
            ranges.append(_parts_range(AssigneeKind.GROUP, bindparam(f"group_{i}"), shape))
        if shape.groups < 0:
            every: BindParameter[str] = bindparam("groups", expanding=True)
            ranges.append(_parts_range(AssigneeKind.GROUP, every, shape))
    if shape.view is not ListView.MINE:
        ranges.append(_tasks_range(TASKS.c.assignor == bindparam("user"), shape))
    return ranges


def _parts_range(kind: AssigneeKind, who: BindParameter[Any], shape: Shape) -> _Range:
    """Through ix_task_parts_list: the open tasks assigned to ``who`` (one of ``who``)."""
    person = PARTS.c.assignee_id.in_(who) if who.expanding else PARTS.c.assignee_id == who
    where = (
        PARTS.c.team_id == bindparam("team"),
        PARTS.c.assignee_kind == kind.value,
        person,
        PARTS.c.task_open.is_(True),
    )
    return _Range(
        PARTS.c.task_id, PARTS.c.list_due, PARTS.c.task_number, where + _overdue(PARTS, shape)
    )


def _tasks_range(who: ColumnElement[bool], shape: Shape) -> _Range:
    """Through ix_tasks_team_assignor_list (ix_tasks_team_channel_list): open ones only."""
    where = (TASKS.c.team_id == bindparam("team"), who, TASKS.c.is_open.is_(True))
    return _Range(TASKS.c.id, TASKS.c.list_due, TASKS.c.number, where + _overdue(TASKS, shape))


def _overdue(table: Any, shape: Shape) -> tuple[ColumnElement[bool], ...]:
    """``overdue``: only the range before now (undated tasks sort after every instant)."""
    if not shape.overdue:
        return ()
    return (table.c.list_due < bindparam("now", type_=UtcDateTime()),)


@lru_cache(maxsize=256)
def _count(shape: Shape) -> Select[Any]:
    """The whole list's length, from the same ranges (index rows only; a task in two ranges,
    say assigned to the person by the person, counts once)."""
    ranges = _ranges(shape)
    if len(ranges) == 1:
        return select(func.count()).where(*ranges[0].where)
    return select(func.count()).select_from(union(*(r.keys() for r in ranges)).subquery())


def _page(shape: Shape) -> Subquery:
    """The page's keys: each range's first rows, merged (a UNION drops a task two ranges
    share), and the first of them in list order."""
    ranges = _ranges(shape)
    if len(ranges) == 1:
        return ranges[0].page(shape.direction).subquery("page")
    arms: list[Select[Any]] = [select(r.page(shape.direction).subquery()) for r in ranges]
    merged = union(*arms).subquery("merged")
    order = [merged.c.list_due, merged.c.number]
    backwards = shape.direction is Direction.BEFORE
    return (
        select(merged)
        .order_by(*(c.desc() if backwards else c for c in order))
        .limit(LIMIT)
        .subquery("page")
    )


@lru_cache(maxsize=256)
def _statement(shape: Shape) -> Select[Any]:
    """The page's keys, then its tasks (by key) and their parts, with the list's length."""
    page = _page(shape)
    backwards = shape.direction is Direction.BEFORE
    task, part = TASKS.alias("task"), PARTS.alias("part")
    total = _count(shape).correlate(None).scalar_subquery()
    order = [page.c.list_due, page.c.number]
    return (
        select(
            total.label("total"),
            *(task.c[name] for name in TASK_COLUMNS),
            *(part.c[name].label(f"part_{name}") for name in PART_COLUMNS),
        )
        .select_from(
            page.join(task, task.c.id == page.c.id).outerjoin(part, part.c.task_id == page.c.id)
        )
        .order_by(*(c.desc() if backwards else c for c in order), part.c.position)
    )


def _tasks(rows: Sequence[Row[Any]]) -> list[Task]:
    """Rows of (task, one of its parts), in order, folded into tasks."""
    tasks: list[Task] = []
    current: Row[Any] | None = None
    parts: list[Part] = []
    for row in rows:
        if current is None or row.id != current.id:
            if current is not None:
                tasks.append(task_of(current, parts))
            current, parts = row, []
        if row.part_assignee_id is not None:
            parts.append(
                Part(
                    assignee=Assignee(
                        kind=AssigneeKind(row.part_assignee_kind), id=row.part_assignee_id
                    ),
                    state=PartState(row.part_state),
                    done_by=row.part_done_by,
                    done_at=row.part_done_at,
                )
            )
    if current is not None:
        tasks.append(task_of(current, parts))
    return tasks


def task_of(
    row: Any,
    parts: Iterable[Part],
    *,
    comments: tuple[Comment, ...] = (),
    attachments: tuple[Attachment, ...] = (),
    deleted: bool = False,
) -> Task:
    """A task from its ``tasks`` columns (an ORM ``TaskRow`` or a selected row: the names are
    the same) and its parts; a list loads no comments or attachments, the store does."""
    due = (
        Due(date=row.due_date, time=row.due_time, tz=row.due_tz or "UTC") if row.due_date else None
    )
    return Task(
        team_id=row.team_id,
        id=row.id,
        handle=format_handle(row.number),
        title=row.title,
        description=row.description,
        due=due,
        condition=CompletionCondition(row.condition),
        status=Status(row.status),
        assignor=row.assignor,
        parts=tuple(parts),
        comments=comments,
        attachments=attachments,
        channel_id=row.channel_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        deleted=deleted,
    )
