"""The list order's copies on each part (its task's open state, list_due and number) stay true
through every kind of save, and migration 0013 fills them in for the tasks already stored: lists
read only the copies, so a stale one would list a task wrongly (issue 13)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import rules
from bot.domain.models import (
    Actor,
    Assignee,
    Due,
    ListView,
    PageKey,
    Part,
    PartState,
    Task,
    TaskDraft,
    TaskEdit,
    TaskQuery,
)
from storage.local_tasks import SqlAlchemyTaskStore
from storage.migrate import alembic_config
from storage.tables import LIST_UNDATED
from storage.task_lists import GROUP_RANGES

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
TEAM, BOSS, ANN, BOB = "T1", "UBOSS", "UANN", "UBOB"
ACTOR = Actor(team_id=TEAM, user_id=BOSS)
LATER = NOW + timedelta(days=30)  # when ``overdue`` is asked: every dated task is past due
STALE = """SELECT count(*) FROM task_parts p JOIN tasks t ON t.id = p.task_id
    WHERE p.task_open <> t.is_open OR p.list_due <> t.list_due OR p.task_number <> t.number
    OR t.list_due <> COALESCE(t.due_at, :undated)"""


def due(days: int) -> Due:
    return Due(date=date(2026, 12, 3) + timedelta(days=days))


def listed(store: SqlAlchemyTaskStore, view: ListView, who: str = ANN) -> list[str]:
    query = TaskQuery(team_id=TEAM, view=view, user_id=who, now=LATER, limit=2)
    handles: list[str] = []
    page = store.list(query)
    while True:  # two a page: the keyset on the copies too
        handles += [t.handle for t in page]
        if not page.more_after:
            return handles
        page = store.list(query.model_copy(update={"after": PageKey.of(page[-1])}))


def stale_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        undated = stored(engine, LIST_UNDATED)
        return int(connection.execute(text(STALE), {"undated": undated}).scalar_one())


def stored(engine: Engine, value: datetime | None) -> object:
    """A datetime as the driver binds it in plain SQL (SQLite keeps them as text)."""
    if value is None or engine.dialect.name != "sqlite":
        return value
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def test_every_save_keeps_the_list_copies_true(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    store = SqlAlchemyTaskStore(sessions)

    def make(title: str, when: Due | None) -> Task:
        draft = TaskDraft(
            team_id=TEAM, assignor=BOSS, title=title, due=when, assignees=(Assignee.user(ANN),)
        )
        return store.create(draft, NOW)

    def change(task: Task, changed: Task) -> Task:
        return store.save(changed, task.version)

    one, two, three = make("one", due(3)), make("two", None), make("three", due(1))
    assert listed(store, ListView.MINE) == ["T-3", "T-1", "T-2"]  # undated last

    one = change(one, rules.edit(one, ACTOR, TaskEdit(due=due(0)), NOW))
    three = change(three, rules.edit(three, ACTOR, TaskEdit(clear_due=True), NOW))
    assert listed(store, ListView.MINE) == ["T-1", "T-2", "T-3"]
    assert listed(store, ListView.OVERDUE) == ["T-1"]

    one = change(one, rules.complete_task(one, ACTOR, NOW))
    assert listed(store, ListView.MINE) == ["T-2", "T-3"]
    assert listed(store, ListView.ASSIGNED, BOSS) == ["T-2", "T-3"]
    one = change(one, rules.reopen(one, ACTOR, NOW))
    assert listed(store, ListView.MINE) == ["T-1", "T-2", "T-3"]

    two = change(two, rules.reassign(two, ACTOR, [Assignee.user(BOB)], NOW))
    assert listed(store, ListView.MINE) == ["T-1", "T-3"]
    assert listed(store, ListView.MINE, BOB) == ["T-2"]
    two = change(two, rules.edit(two, ACTOR, TaskEdit(due=due(2)), NOW))
    assert listed(store, ListView.OVERDUE, BOB) == ["T-2"]

    store.delete(TEAM, three.handle, three.version, NOW)
    assert listed(store, ListView.MINE) == ["T-1"]
    assert listed(store, ListView.INVOLVED, BOSS) == ["T-1", "T-2"]
    assert stale_rows(engine) == 0


def test_the_migration_fills_the_copies_of_stored_tasks(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """Down to the revision before 0013, tasks stored the old way, then up again."""
    before = ScriptDirectory.from_config(alembic_config()).get_revision("0013").down_revision
    assert isinstance(before, str)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, before)
        for n, (when, is_open) in enumerate([(NOW, True), (None, True), (NOW, False)], start=1):
            connection.execute(
                text(
                    "INSERT INTO tasks (id, team_id, number, title, description, due_at, "
                    "condition, status, is_open, assignor, created_at, updated_at, version) "
                    "VALUES (:id, :team, :n, 't', '', :due, 'ANY_ONE', :status, :open, :boss, "
                    ":now, :now, 1)"
                ),
                {
                    "id": f"t{n}",
                    "team": TEAM,
                    "n": n,
                    "due": stored(engine, when),
                    "status": "NEW" if is_open else "COMPLETED",
                    "open": is_open,
                    "boss": BOSS,
                    "now": stored(engine, NOW),
                },
            )
            connection.execute(
                text(
                    "INSERT INTO task_parts (task_id, assignee_kind, assignee_id, team_id, "
                    "position, state) VALUES (:id, 'user', :ann, :team, 0, 'TODO')"
                ),
                {"id": f"t{n}", "ann": ANN, "team": TEAM},
            )
        command.upgrade(config, "head")
    assert stale_rows(engine) == 0
    store = SqlAlchemyTaskStore(sessions)
    assert listed(store, ListView.MINE) == ["T-1", "T-2"]


@pytest.mark.parametrize("groups", [2, GROUP_RANGES + 4])
def test_a_persons_groups_are_listed_however_many(
    sessions: sessionmaker[Session], groups: int
) -> None:
    """A range per group, or one for all of them when there are many: the same list."""
    store = SqlAlchemyTaskStore(sessions)
    names = [f"S{i:02d}" for i in range(groups)]
    for i, (who, days) in enumerate(
        [(Assignee.group(names[-1]), 2), (Assignee.user(ANN), 3), (Assignee.group(names[0]), 1)]
    ):
        draft = TaskDraft(
            team_id=TEAM, assignor=BOSS, title=f"t{i}", due=due(days), assignees=(who,)
        )
        store.create(draft, NOW)
    store.create(TaskDraft(team_id=TEAM, assignor=BOSS, title="other", due=due(0)), NOW)
    query = TaskQuery(
        team_id=TEAM, view=ListView.MINE, user_id=ANN, group_ids=frozenset(names), limit=2
    )
    first = store.list(query)
    second = store.list(query.model_copy(update={"after": PageKey.of(first[-1])}))
    assert [t.handle for t in [*first, *second]] == ["T-3", "T-1", "T-2"]
    assert first.total == 3 and first.more_after and not second.more_after


def test_a_part_done_updates_its_row_in_place_and_a_new_assignee_replaces_the_rows(
    sessions: sessionmaker[Session],
) -> None:
    """The same assignees: one UPDATE, of the part that changed (the rows are updated where they
    are; replacing them, the ORM came to the same UPDATE through new objects, at more CPU while
    SQLite's write lock was held); another assignee: rows replaced, the new one inserted."""
    store = SqlAlchemyTaskStore(sessions)
    draft = TaskDraft(team_id=TEAM, assignor=BOSS, title="Ship", assignees=(Assignee.user(ANN),))
    task = store.create(draft, NOW)
    statements: list[str] = []
    engine = sessions.kw["bind"]

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        words = statement.split()  # "UPDATE t …", "INSERT INTO t …", "DELETE FROM t …"
        statements.append(f"{words[0].upper()} {words[1 if words[0].upper() == 'UPDATE' else 2]}")

    event.listen(engine, "before_cursor_execute", seen)
    try:
        done = rules.set_own_parts(task, Actor(team_id=TEAM, user_id=ANN), PartState.DONE, NOW)
        store.save(done, task.version)
        assert [s for s in statements if s.endswith("task_parts")] == ["UPDATE task_parts"]
        assert store.get(TEAM, task.handle).parts == done.parts
        statements.clear()
        ben = Part(assignee=Assignee.user(BOB))
        more = done.model_copy(update={"parts": (*done.parts, ben), "version": done.version + 1})
        store.save(more, done.version)
        assert "INSERT task_parts" in statements
        assert store.get(TEAM, task.handle).parts == more.parts
    finally:
        event.remove(engine, "before_cursor_execute", seen)
