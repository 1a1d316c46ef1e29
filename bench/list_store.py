"""A store of many tasks for the list queries (``bench.lists`` and the plan test).

Two workspaces (90 % / 10 % of the tasks), ``people`` people in each, 70 % of tasks completed,
one assignee each (every 20th a user group), due instants spread over four months around ``now``
(every 5th undated). Two people are placed on purpose in the big workspace: ``TYPICAL`` with
about twenty open tasks of their own and ``HEAVY`` assigned 2,000 open tasks (and assignor of
2,000 more).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bench.reminder_claim import PART_COLUMNS, TASK_COLUMNS, write_postgres, write_sqlite
from storage.tables import Base, list_due

TEAMS = ("T0BIG", "T0SMALL")
TYPICAL, HEAVY = "U0TYPICAL", "U0HEAVY"
HEAVY_OPEN = 2000
TYPICAL_OPEN = 10  # as assignee; as many again as assignor
GROUPS = [f"S{i:04d}" for i in range(20)]
CHUNK = 50_000
TASKS, PARTS, COUNTERS = (
    Base.metadata.tables[name] for name in ("tasks", "task_parts", "handle_counters")
)


def person(team: int, i: int) -> str:
    return f"U{team}{i:06d}"


def _rows(
    tasks: int, people: int, now: datetime
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    rng = random.Random(13)
    created = now - timedelta(days=90)
    big = tasks * 9 // 10
    numbers = [0, 0]
    specials = {**dict.fromkeys(range(1, 2 * HEAVY_OPEN + 1), HEAVY)}
    specials.update(
        dict.fromkeys(range(2 * HEAVY_OPEN + 1, 2 * HEAVY_OPEN + 2 * TYPICAL_OPEN + 1), TYPICAL)
    )
    task_rows: list[tuple[Any, ...]] = []
    part_rows: list[tuple[Any, ...]] = []
    for n in range(1, tasks + 1):
        team = 0 if n <= big else 1
        numbers[team] += 1
        number = numbers[team]
        task_id = f"list{n:028d}"
        special = specials.get(number) if team == 0 else None
        assignee = person(team, rng.randrange(people))
        assignor = person(team, rng.randrange(people))
        kind = "group" if n % 20 == 0 else "user"
        if kind == "group":
            assignee = rng.choice(GROUPS)
        completed = rng.random() < 0.7
        if special is not None:  # first half: assigned to them; second half: by them
            completed, kind = False, "user"
            last = HEAVY_OPEN if special == HEAVY else 2 * HEAVY_OPEN + TYPICAL_OPEN
            mine = number <= last
            assignee = special if mine else person(team, rng.randrange(people))
            assignor = assignor if mine else special
        due = (
            None
            if n % 5 == 0
            else now + timedelta(minutes=rng.randint(-60 * 24 * 60, 60 * 24 * 60))
        )
        status = "COMPLETED" if completed else rng.choice(("NEW", "IN_PROGRESS"))
        task_rows.append(
            (
                task_id,
                TEAMS[team],
                number,
                f"List task {number}",
                "",
                due.date() if due else None,
                due.time() if due else None,
                "UTC" if due else None,
                due,
                "ANY_ONE",
                status,
                not completed,
                assignor,
                None,
                created,
                created,
                1,
                None,
                list_due(due),
            )
        )
        part_rows.append(
            (
                task_id,
                kind,
                assignee,
                TEAMS[team],
                0,
                "DONE" if completed else "TODO",
                assignee if completed and kind == "user" else None,
                now if completed else None,
                not completed,
                list_due(due),
                number,
            )
        )
        if len(task_rows) >= CHUNK:
            yield task_rows, part_rows
            task_rows, part_rows = [], []
    if task_rows:
        yield task_rows, part_rows


def seed(engine: Engine, tasks: int, people: int, now: datetime, *, quiet: bool = True) -> None:
    """Bulk-load the store (executemany on SQLite, COPY on PostgreSQL), one commit a chunk."""
    sqlite = engine.dialect.name == "sqlite"
    raw = engine.raw_connection()
    started = time.perf_counter()
    written = 0
    try:
        driver = raw.driver_connection
        assert driver is not None
        for task_rows, part_rows in _rows(tasks, people, now):
            for table, columns, rows in (
                (TASKS, TASK_COLUMNS, task_rows),
                (PARTS, PART_COLUMNS, part_rows),
            ):
                if sqlite:
                    write_sqlite(driver, engine, table, columns, rows)
                else:
                    write_postgres(driver, table, columns, rows)
            raw.commit()
            written += len(task_rows)
            if not quiet:
                rate = written / (time.perf_counter() - started)
                print(f"  … {written:,} tasks ({rate:,.0f} tasks/s)", flush=True)
        big = tasks * 9 // 10
        for team, count in ((TEAMS[0], big), (TEAMS[1], tasks - big)):
            if sqlite:
                driver.execute(f"INSERT INTO {COUNTERS.name} VALUES (?, ?)", (team, count))
            else:
                with driver.cursor() as cursor:
                    cursor.execute(f"INSERT INTO {COUNTERS.name} VALUES (%s, %s)", (team, count))
        raw.commit()
    finally:
        raw.close()
