"""The list queries start from the person and stop after the page (issue 13): on a seeded store,
each path reads the person's own index ranges, in list order, and the heavy person's first page
reads about a page of them, not all of their 2,000 open tasks (only the count reads them all, in
the index alone). PostgreSQL: EXPLAIN ANALYZE's actual rows; SQLite: EXPLAIN QUERY PLAN."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from bench.list_store import GROUPS, HEAVY, HEAVY_OPEN, TEAMS, TYPICAL, seed
from bot.domain.models import ListView, TaskQuery
from storage.local_tasks import SqlAlchemyTaskStore
from storage.migrate import refresh_statistics

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LIMIT = 30
PATHS = [ListView.MINE, ListView.ASSIGNED, ListView.OVERDUE, ListView.INVOLVED]
PARTS_INDEX, ASSIGNOR_INDEX = "ix_task_parts_list", "ix_tasks_team_assignor_list"
LIST_INDEXES = (PARTS_INDEX, ASSIGNOR_INDEX)
PERSON_INDEX = {
    ListView.MINE: [PARTS_INDEX],
    ListView.ASSIGNED: [ASSIGNOR_INDEX],
    ListView.OVERDUE: [PARTS_INDEX, ASSIGNOR_INDEX],
    ListView.INVOLVED: [PARTS_INDEX, ASSIGNOR_INDEX],
}
KEY_LOOKUPS = ("tasks_pkey", "task_parts_pkey")


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


def sqlite_plan(engine: Engine, statement: str, parameters: Any) -> list[tuple[int, int, str]]:
    """(id, parent, detail) rows of EXPLAIN QUERY PLAN."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return [(int(r[0]), int(r[1]), str(r[-1])) for r in rows]


def postgres_plan(engine: Engine, statement: str, parameters: Any) -> dict[str, Any]:
    """The root node of EXPLAIN (ANALYZE, FORMAT JSON): what the statement really read."""
    with engine.connect() as connection:
        explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement
        document = connection.exec_driver_sql(explain, parameters).scalar_one()
    return dict(document[0]["Plan"])


def nodes(node: dict[str, Any], in_count: bool = False) -> list[tuple[dict[str, Any], Any, bool]]:
    """Every node with its parent, and whether it computes the count (an InitPlan)."""
    found = []
    for child in node.get("Plans", []):
        counting = in_count or child.get("Parent Relationship") in ("InitPlan", "SubPlan")
        found.append((child, node, counting))
        found += nodes(child, counting)
    return found


def outline(plan: dict[str, Any]) -> str:
    """One line a node: type, index, rows read (for failure messages)."""
    lines = [f"{plan['Node Type']} rows={plan['Actual Rows']}"]
    for node, _parent, counting in nodes(plan):
        index = node.get("Index Name") or node.get("Relation Name") or ""
        where = " (count)" if counting else ""
        lines.append(f"{node['Node Type']} {index} rows={node['Actual Rows']}{where}")
    return "\n".join(lines)


def assert_postgres_reads_a_page(plan: dict[str, Any], view: ListView) -> None:
    text = outline(plan)
    used = set()
    for node, parent, counting in nodes(plan):
        kind, index = node["Node Type"], node.get("Index Name")
        assert kind != "Seq Scan", f"{view}: {kind}\n{text}"
        if index is None:
            continue
        if counting:  # the list's length: the person's whole ranges, from the list indexes
            assert index in LIST_INDEXES, f"{view}: count through {index}\n{text}"
        elif index in KEY_LOOKUPS:  # the page's tasks and parts, by key
            assert node["Actual Loops"] <= LIMIT + 1, f"{view}: {index} per row\n{text}"
        else:  # a range read in list order, stopped after the page
            assert index in LIST_INDEXES, f"{view}: {index}\n{text}"
            assert kind in ("Index Scan", "Index Only Scan"), f"{view}: {kind}\n{text}"
            assert parent["Node Type"] == "Limit", f"{view}: {index} not ordered\n{text}"
            assert node["Actual Rows"] <= LIMIT + 1, f"{view}: {index} read on\n{text}"
            used.add(index)
    assert used == set(PERSON_INDEX[view]), f"{view}: ranges {used}\n{text}"


def assert_sqlite_reads_a_page(plan: list[tuple[int, int, str]], view: ListView) -> None:
    text = "\n".join(detail for _i, _p, detail in plan)
    parents = {i: p for i, p, _d in plan}
    details = {i: d for i, _p, d in plan}

    def counting(i: int) -> bool:
        while i:
            if details.get(i, "").startswith("SCALAR SUBQUERY"):
                return True
            i = parents.get(i, 0)
        return False

    sorted_under = {p for _i, p, d in plan if d == "USE TEMP B-TREE FOR ORDER BY"}
    used = set()
    for i, parent, detail in plan:
        assert not detail.startswith(("SCAN tasks", "SCAN task_parts")), f"{view}: scan\n{text}"
        index = next((name for name in LIST_INDEXES if f"INDEX {name} " in detail), None)
        if index is None:
            continue
        if counting(i):
            assert "COVERING INDEX" in detail, f"{view}: count leaves the index\n{text}"
        else:  # a subquery of its own, ordered by the index (no sort): it stops at its LIMIT
            own = details.get(parent, "").startswith(("CO-ROUTINE", "MATERIALIZE"))
            assert own and parent not in sorted_under, f"{view}: {index} read whole\n{text}"
            used.add(index)
    assert used == set(PERSON_INDEX[view]), f"{view}: ranges {used}\n{text}"


def assert_from_the_person(engine: Engine, sessions: sessionmaker[Session], who: str) -> None:
    for view in PATHS:
        query = TaskQuery(
            team_id=TEAMS[0],
            view=view,
            user_id=who,
            group_ids=frozenset(GROUPS[:2]),
            now=NOW,
            limit=LIMIT,
        )
        selects = [s for s in captured(engine, sessions, query) if "SELECT" in s[0].upper()]
        assert len(selects) == 1, view
        statement, parameters = selects[0]
        if engine.dialect.name == "sqlite":
            assert_sqlite_reads_a_page(sqlite_plan(engine, statement, parameters), view)
        else:
            assert_postgres_reads_a_page(postgres_plan(engine, statement, parameters), view)


def test_each_person_path_reads_a_page_of_the_persons_rows(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """SQLite without statistics (a store filled since the last start) and with those a start
    gathers (``refresh_statistics``); PostgreSQL as autovacuum would leave it."""
    seed(engine, 20_000, 1_000, NOW)
    heavy = TaskQuery(team_id=TEAMS[0], view=ListView.ASSIGNED, user_id=HEAVY, now=NOW)
    assert SqlAlchemyTaskStore(sessions).list(heavy).total == HEAVY_OPEN  # far more than a page
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
        for who in (TYPICAL, HEAVY):
            assert_from_the_person(engine, sessions, who)
