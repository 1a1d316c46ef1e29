"""Lists of open tasks (``/task mine|list|assigned|overdue``, App Home), one statement a page.

Every list starts from the person's own rows and only then reads their tasks by primary key: the
assignee index for parts (the person and their groups), the assignor index for tasks they
assigned, each a UNION arm of its own (an OR would make the planner walk every open task of the
workspace). The tasks table is joined without a workspace condition, so its only way in is its
primary key, whatever the statistics say. One statement sorts the list's keys (narrow rows),
then reads the page's tasks, their parts and the whole list's count; comments and attachments,
which no list shows, are not read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Select,
    Subquery,
    and_,
    any_,
    case,
    func,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from bot.domain.models import (
    Assignee,
    AssigneeKind,
    CompletionCondition,
    Due,
    ListView,
    PageKey,
    Part,
    PartState,
    Status,
    Task,
    TaskPage,
    TaskQuery,
    format_handle,
)
from storage.tables import PartRow, TaskRow

TASKS = TaskRow.__table__
PARTS = PartRow.__table__
TASK_COLUMNS = (
    "id team_id number title description due_date due_time due_tz due_at condition status "
    "assignor channel_id created_at updated_at version"
).split()
PART_COLUMNS = ("assignee_kind", "assignee_id", "state", "done_by", "done_at", "position")


def list_page(session: Session, query: TaskQuery) -> TaskPage:
    """One page of a list, in the list order (soonest due first, undated last, then handle)."""
    backwards = query.before is not None
    by_key_array = session.get_bind().dialect.name == "postgresql"
    rows = session.execute(_statement(query, by_key_array=by_key_array)).all()
    tasks = _tasks(rows)
    more = len(tasks) > query.limit
    tasks = tasks[: query.limit]
    if backwards:
        tasks.reverse()
    total = int(rows[0].total) if rows else 0
    return TaskPage(
        tasks,
        total=total if rows else _empty_total(session, query, by_key_array=by_key_array),
        more_before=more if backwards else query.after is not None,
        more_after=True if backwards else more,
    )


def _empty_total(session: Session, query: TaskQuery, *, by_key_array: bool) -> int:
    """The count when the page itself is empty (a page past the end): one more statement, only
    then."""
    if query.after is None and query.before is None:
        return 0
    listed = _listed_rows(query, by_key_array=by_key_array)
    return int(session.scalar(select(func.max(listed.c.total))) or 0)


def _arms(query: TaskQuery) -> list[Select[Any]]:
    """The person's own rows, one index range each."""
    team = query.team_id
    if query.view is ListView.CHANNEL:
        return [_assignor_or_channel(TASKS.c.channel_id == query.channel_id, query)]
    arms: list[Select[Any]] = []
    if query.view is not ListView.ASSIGNED:
        arms.append(_parts(team, AssigneeKind.USER, [query.user_id or ""]))
        if query.group_ids:
            arms.append(_parts(team, AssigneeKind.GROUP, sorted(query.group_ids)))
    if query.view is not ListView.MINE:
        arms.append(_assignor_or_channel(TASKS.c.assignor == query.user_id, query))
    return arms


def _parts(team: str, kind: AssigneeKind, who: Sequence[str]) -> Select[Any]:
    person = PARTS.c.assignee_id == who[0] if len(who) == 1 else PARTS.c.assignee_id.in_(who)
    return select(PARTS.c.task_id.label("id")).where(
        PARTS.c.team_id == team, PARTS.c.assignee_kind == kind.value, person
    )


def _assignor_or_channel(who: ColumnElement[bool], query: TaskQuery) -> Select[Any]:
    """Through ix_tasks_team_assignor_open_due (ix_tasks_team_channel_open): open ones only, and
    for ``overdue`` only the range before now."""
    statement = select(TASKS.c.id.label("id")).where(
        TASKS.c.team_id == query.team_id, who, TASKS.c.is_open.is_(True)
    )
    if query.view is ListView.OVERDUE:
        statement = statement.where(TASKS.c.due_at < query.now)
    return statement


def _ids(query: TaskQuery) -> CTE:
    arms = _arms(query)
    return (arms[0] if len(arms) == 1 else union(*arms)).cte("person_tasks")


def _listed(query: TaskQuery) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = TASKS.c.is_open.is_(True)
    if query.view is ListView.OVERDUE:
        condition = and_(condition, TASKS.c.due_at < query.now)
    return condition


UNDATED = case((TASKS.c.due_at.is_(None), 1), else_=0)


def _listed_rows(query: TaskQuery, *, by_key_array: bool) -> Subquery:
    """The person's whole list, narrow (key and order columns only, so sorting it stays cheap),
    each row with the list's length (counted as the rows are read for sorting anyway).

    ``by_key_array`` (PostgreSQL): the tasks are fetched as ``id = ANY(ARRAY(<their ids>))``, an
    index condition on the primary key; a join let PostgreSQL hash the person's ids against a
    scan of every open task once the person had a few thousand."""
    ids = _ids(query)
    columns = (
        TASKS.c.id,
        TASKS.c.due_at,
        TASKS.c.number,
        UNDATED.label("undated"),
        func.count().over().label("total"),
    )
    return (
        select(*columns)
        .select_from(ids.join(TASKS, TASKS.c.id == ids.c.id))
        .where(_listed(query))
        .subquery("listed")
        if not by_key_array
        else select(*columns)
        .where(TASKS.c.id == any_(func.array(select(ids.c.id).scalar_subquery())))
        .where(_listed(query))
        .subquery("listed")
    )


def _statement(query: TaskQuery, *, by_key_array: bool) -> Select[Any]:
    """The page's keys, then its tasks (by key) and their parts."""
    listed = _listed_rows(query, by_key_array=by_key_array)
    backwards = query.before is not None
    order = [listed.c.undated, listed.c.due_at, listed.c.number]
    page = (
        select(listed)
        .where(_keyset(query, listed))
        .order_by(*(c.desc() if backwards else c.asc() for c in order))
        .limit(query.limit + 1)  # one more: whether another page follows
        .subquery("page")
    )
    task = TASKS.alias("task")
    outer = [page.c.undated, page.c.due_at, page.c.number]
    return (
        select(
            page.c.total,
            *(task.c[name] for name in TASK_COLUMNS),
            *(PARTS.c[name].label(f"part_{name}") for name in PART_COLUMNS),
        )
        .select_from(
            page.join(task, task.c.id == page.c.id).outerjoin(PARTS, PARTS.c.task_id == page.c.id)
        )
        .order_by(*(c.desc() if backwards else c.asc() for c in outer), PARTS.c.position)
    )


def _keyset(query: TaskQuery, listed: Subquery) -> ColumnElement[bool]:
    """The rows strictly after ``query.after`` (before ``query.before``) in the list order."""
    if query.after is not None:
        return _beyond(listed, query.after, forward=True)
    if query.before is not None:
        return _beyond(listed, query.before, forward=False)
    return true()


def _beyond(listed: Subquery, key: PageKey, *, forward: bool) -> ColumnElement[bool]:
    due, number = listed.c.due_at, listed.c.number
    later_number = number > key.number if forward else number < key.number
    if key.due_at is None:  # among the undated (last in the order)
        return and_(due.is_(None), later_number) if forward else or_(due.is_not(None), later_number)
    same = and_(due == key.due_at, later_number)
    if forward:
        return or_(due.is_(None), due > key.due_at, same)
    return or_(due < key.due_at, same)


def _tasks(rows: Sequence[Row[Any]]) -> list[Task]:
    """Rows of (task, one of its parts), in order, folded into tasks."""
    tasks: list[Task] = []
    current: Row[Any] | None = None
    parts: list[Part] = []
    for row in rows:
        if current is None or row.id != current.id:
            if current is not None:
                tasks.append(_task(current, parts))
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
        tasks.append(_task(current, parts))
    return tasks


def _task(row: Row[Any], parts: list[Part]) -> Task:
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
        channel_id=row.channel_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )
