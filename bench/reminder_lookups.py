"""The two ledger reads issue 16 added, on a big store, on SQLite and on PostgreSQL.

* ``next_reminder(team, task, person)``: asked once for each card one person reads (a DM card,
  a reminder DM, ``/task show``), never for channel cards, lists or App Home;
* ``sent_instants(team, task)``: asked once per re-plan (every change of a task), so that a
  reminder that went out at its earlier slot is not sent again at its nominal instant.

Fills the store as ``bench.reminder_claim`` does (N tasks, three reminders each), then times each
read for random tasks and prints its query plan (both must use ``ix_reminders_team_task``).

    python -m bench.reminder_lookups [--tasks 200000] [--calls 2000] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event

from bench.reminder_claim import PEOPLE, TEAM, USERS, fill, percentile
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade_engine
from storage.reminder_ledger import SqlAlchemyReminderLedger
from tests.postgres import Cluster

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


def timed(calls: int, read: Callable[[int], object], tasks: int) -> str:
    rng = random.Random(7)
    ms: list[float] = []
    for _ in range(calls):
        number = rng.randint(1, tasks)
        started = time.perf_counter()
        read(number)
        ms.append((time.perf_counter() - started) * 1e3)
    return f"p50 {percentile(ms, 50):6.3f}  p99 {percentile(ms, 99):6.3f}  max {max(ms):6.3f} ms"


@contextmanager
def plans(engine: Engine) -> Iterator[list[str]]:
    """The query plan of each SELECT on ``reminders`` sent meanwhile, as the database runs it."""
    statements: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM reminders" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    found: list[str] = []
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute(explain + statement, parameters)
            found.append(" | ".join(str(row[-1]) for row in cursor.fetchall()))
    finally:
        raw.close()


def run(label: str, url: str, args: argparse.Namespace) -> None:
    print(f"== {label}: {args.tasks:,} tasks, {3 * args.tasks:,} reminders ==", flush=True)
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
        fill(engine, args.tasks, max(1, args.tasks // 100), T0)
        ledger = SqlAlchemyReminderLedger(make_sessionmaker(engine))

        def task_id(n: int) -> str:
            return f"bench{n:027d}"

        def next_of(n: int) -> object:
            return ledger.next_reminder(TEAM, task_id(n), USERS[n % PEOPLE])

        def sent_of(n: int) -> object:
            return ledger.sent_instants(TEAM, task_id(n))

        print(f"  next_reminder  {timed(args.calls, next_of, args.tasks)}")
        print(f"  sent_instants  {timed(args.calls, sent_of, args.tasks)}")
        for name, read in (("next_reminder", next_of), ("sent_instants", sent_of)):
            with plans(engine) as found:
                read(1)
            print(f"  plan of {name}: {' / '.join(found)}")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="taskbot-bench-") as tmp:
            run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    if args.db in ("postgres", "both"):
        try:
            cluster = Cluster().start()
        except FileNotFoundError as exc:
            print(f"== PostgreSQL: skipped ({exc}) ==")
            return
        try:
            run("PostgreSQL", cluster.url, args)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
