"""The list queries start from the person: on a seeded store, EXPLAIN for each path shows the
person's index and no walk of the workspace's open tasks (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from bench.list_store import GROUPS, HEAVY, TEAMS, TYPICAL, seed
from bot.domain.models import ListView, TaskQuery
from storage.local_tasks import SqlAlchemyTaskStore
from storage.migrate import refresh_statistics

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PATHS = [ListView.MINE, ListView.ASSIGNED, ListView.OVERDUE, ListView.INVOLVED]
PERSON_INDEX = {
    ListView.MINE: ["ix_task_parts_assignee"],
    ListView.ASSIGNED: ["ix_tasks_team_assignor_open_due"],
    ListView.OVERDUE: ["ix_task_parts_assignee", "ix_tasks_team_assignor_open_due"],
    ListView.INVOLVED: ["ix_task_parts_assignee", "ix_tasks_team_assignor_open_due"],
}


def captured(engine: Engine, sessions: sessionmaker[Session], query: TaskQuery) -> list[Any]:
    """The statements (SQL, parameters) a list call runs."""
    seen: list[Any] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        SqlAlchemyTaskStore(sessions).list(query)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def plan(engine: Engine, statement: str, parameters: Any) -> str:
    sqlite = engine.dialect.name == "sqlite"
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def assert_from_the_person(engine: Engine, sessions: sessionmaker[Session], who: str) -> None:
    for view in PATHS:
        query = TaskQuery(
            team_id=TEAMS[0], view=view, user_id=who, group_ids=frozenset(GROUPS[:2]), now=NOW
        )
        selects = [s for s in captured(engine, sessions, query) if "SELECT" in s[0].upper()]
        assert selects, view
        for statement, parameters in selects:
            text = plan(engine, statement, parameters)
            for index in PERSON_INDEX[view]:
                assert index in text, f"{view}: {index} not used\n{text}"
            assert "ix_tasks_team_open_due" not in text, f"{view}: open tasks walked\n{text}"
            assert "SCAN tasks" not in text, f"{view}: tasks scanned\n{text}"
            assert "Seq Scan on tasks" not in text, f"{view}: tasks scanned\n{text}"
            assert "Seq Scan on task_parts" not in text, f"{view}: parts scanned\n{text}"


def test_each_person_path_starts_from_the_persons_rows(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """SQLite without statistics (a store filled since the last start) and with those a start
    gathers (``refresh_statistics``); PostgreSQL as autovacuum would leave it."""
    seed(engine, 20_000, 1_000, NOW)
    if engine.dialect.name == "sqlite":
        for who in (TYPICAL, HEAVY):
            assert_from_the_person(engine, sessions, who)
        with engine.begin() as connection:
            refresh_statistics(connection)
        for who in (TYPICAL, HEAVY):
            assert_from_the_person(engine, sessions, who)
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
        for who in (TYPICAL, HEAVY):  # HEAVY: a sixth of the open tasks, still looked up by key
            assert_from_the_person(engine, sessions, who)
