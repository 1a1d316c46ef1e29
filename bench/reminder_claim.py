"""Reminder claims and dispatch on a big store, on SQLite and on PostgreSQL.

Fills a store with N tasks (one assignee each, 1,000 people in one workspace) and three reminders
per task: D of them pending and due in the last minute, the rest sent, cancelled or in the future.
Then measures, at one fixed instant (the sweep's clock is frozen there):

* ``claim_due(limit=100)`` as the sweep calls it, the same call with nothing due, and the due
  query alone (the ledger's own SELECT, captured and re-run), with its query plan;
* the end-to-end dispatch rate of ``app.sweep.run_once()`` (re-read each task, DM it to the Slack
  Web API stub, record the card, mark sent), against a stub without a rate limit and against one
  that answers ``chat.postMessage`` with 429 + Retry-After past ``--rate-limit`` per second.

The stub runs in a process of its own. Targets (the issue): claim query under 20 ms; dispatch
limited by the stub's rate limit, not by taskbot.

    python -m bench.reminder_claim [--tasks 1000000] [--due 10000] [--db sqlite|postgres|both]
                                   [--rate-limit 50] [--limited N]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.bootstrap import build_app
from bot.config import Settings
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade_engine
from storage.reminder_ledger import SqlAlchemyReminderLedger
from storage.tables import Base, ReminderRow
from tests.postgres import Cluster

TEAM, TOKEN, SECRET = "T0BENCH", "xoxb-bench", "bench-secret"
PEOPLE = 1000
USERS = [f"U{i:07d}" for i in range(PEOPLE)]
OFFSETS = (86_400, 3_600, 0)  # each task's reminders: 24 h, 1 h and 0 before its due instant
DUE_OFFSET = 1  # the due task's reminder that falls in the current minute (the 1 h one)
CHUNK = 50_000  # tasks generated and written at a time
LEASE = timedelta(minutes=2)
TARGET_MS = 20.0

# --- the store ---------------------------------------------------------------------------------

TASK_COLUMNS = (
    "id team_id number title description due_date due_time due_tz due_at condition status "
    "is_open assignor channel_id created_at updated_at version deleted_at list_due"
).split()
PART_COLUMNS = (
    "task_id assignee_kind assignee_id team_id position state done_by done_at "
    "task_open list_due task_number"  # the task's, copied (storage.tables.PartRow)
).split()
REMINDER_COLUMNS = (
    "id team_id task_id handle assignee_id offset_seconds due_at state claimed_by "
    "claim_expires_at sent_at attempts last_error"
).split()
TASKS, PARTS, REMINDERS, COUNTERS = (
    Base.metadata.tables[name] for name in ("tasks", "task_parts", "reminders", "handle_counters")
)
HAS_KIND = "kind" in REMINDERS.c  # reminder kinds (escalation, digest) when present


def reminder_id(task_number: int, k: int) -> int:
    return 3 * (task_number - 1) + k + 1


def due_numbers(tasks: int, due: int) -> list[int]:
    """The tasks with a reminder due now, spread evenly over the store."""
    step = tasks // due
    return [1 + j * step for j in range(due)]


def generate(
    tasks: int, due: int, t0: datetime
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """(task rows, part rows, reminder rows) in chunks of CHUNK tasks.

    Due tasks: their 1 h reminder is pending and due within the 60 s before ``t0``. Other tasks
    are due on a grid of whole hours from ``t0`` + 30 min, so none of their reminders is due near
    ``t0``: past ones were sent (cancelled when the task is completed), later ones are pending.
    """
    rng = random.Random(42)
    due_set = set(due_numbers(tasks, due))
    created = t0 - timedelta(days=60)
    grid = t0 + timedelta(minutes=30)
    for start in range(1, tasks + 1, CHUNK):
        task_rows: list[tuple[Any, ...]] = []
        part_rows: list[tuple[Any, ...]] = []
        reminder_rows: list[tuple[Any, ...]] = []
        for n in range(start, min(start + CHUNK, tasks + 1)):
            task_id = f"bench{n:027d}"
            handle = f"T-{n}"
            assignee = USERS[n % PEOPLE]
            assignor = USERS[(n * 7 + 3) % PEOPLE]
            if n in due_set:
                moment = t0 - timedelta(seconds=n % 60)  # the due reminder's instant
                task_due = moment + timedelta(seconds=OFFSETS[DUE_OFFSET])
                completed = False
            else:
                task_due = grid + timedelta(hours=rng.randint(-24 * 30, 24 * 60))
                completed = rng.random() < 0.1
            status = "COMPLETED" if completed else rng.choice(("NEW", "NEW", "IN_PROGRESS"))
            task_rows.append(
                (
                    task_id,
                    TEAM,
                    n,
                    f"Bench task {n}",
                    "",
                    task_due.date(),
                    task_due.time(),
                    "UTC",
                    task_due,
                    "ANY_ONE",
                    status,
                    not completed,
                    assignor,
                    "C0BENCH" if n % 4 == 0 else None,
                    created,
                    created,
                    1,
                    None,
                    task_due,
                )
            )
            done_at = t0 - timedelta(days=1) if completed else None
            part_rows.append(
                (
                    task_id,
                    "user",
                    assignee,
                    TEAM,
                    0,
                    "DONE" if completed else "TODO",
                    assignee if completed else None,
                    done_at,
                    not completed,
                    task_due,
                    n,
                )
            )
            for k, offset in enumerate(OFFSETS):
                at = task_due - timedelta(seconds=offset)
                past = at <= t0
                if past and not (n in due_set and k == DUE_OFFSET):
                    state = "sent"
                    claimed_by, expires, sent_at, attempts = "fill", at + LEASE, at, 1
                else:
                    state = "cancelled" if completed else "pending"
                    claimed_by, expires, sent_at, attempts = None, None, None, 0
                row = (
                    reminder_id(n, k),
                    TEAM,
                    task_id,
                    handle,
                    assignee,
                    offset,
                    at,
                    state,
                    claimed_by,
                    expires,
                    sent_at,
                    attempts,
                    None,
                )
                reminder_rows.append((*row, "remind") if HAS_KIND else row)
        yield task_rows, part_rows, reminder_rows


def write_sqlite(
    connection: Any, engine: Engine, table: Table, columns: Sequence[str], rows: Any
) -> None:
    """executemany on the driver, values converted as SQLAlchemy's column types would."""
    processors = [
        table.c[name].type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        for name in columns
    ]
    converted = [
        tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
        for row in rows
    ]
    marks = ", ".join("?" for _ in columns)
    connection.executemany(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", converted
    )


def write_postgres(connection: Any, table: Table, columns: Sequence[str], rows: Any) -> None:
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def fill(engine: Engine, tasks: int, due: int, t0: datetime) -> None:
    reminder_columns = REMINDER_COLUMNS + (["kind"] if HAS_KIND else [])
    sqlite = engine.dialect.name == "sqlite"
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        cache_size: Any = None
        if sqlite:
            cache_size = driver.execute("PRAGMA cache_size").fetchone()[0]
            driver.execute("PRAGMA cache_size=-1000000")  # 1 GB while filling
        started = time.perf_counter()
        written = 0
        for task_rows, part_rows, reminder_rows in generate(tasks, due, t0):
            batches: list[tuple[Table, Sequence[str], list[tuple[Any, ...]]]] = [
                (TASKS, TASK_COLUMNS, task_rows),
                (PARTS, PART_COLUMNS, part_rows),
                (REMINDERS, reminder_columns, reminder_rows),
            ]
            for table, columns, rows in batches:
                if sqlite:
                    write_sqlite(driver, engine, table, columns, rows)
                else:
                    write_postgres(driver, table, columns, rows)
            raw.commit()
            written += len(task_rows)
            if written % (10 * CHUNK) == 0 or written == tasks:
                rate = written / (time.perf_counter() - started)
                print(f"  … {written:,} tasks ({rate:,.0f} tasks/s)", flush=True)
        counter = COUNTERS
        values = (TEAM, tasks)
        if sqlite:
            driver.execute(f"INSERT INTO {counter.name} VALUES (?, ?)", values)
        else:
            with driver.cursor() as cursor:
                cursor.execute(f"INSERT INTO {counter.name} VALUES (%s, %s)", values)
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence('reminders', 'id'), "
                    "(SELECT max(id) FROM reminders))"
                )
        raw.commit()
        if sqlite:
            driver.execute(f"PRAGMA cache_size={int(cache_size)}")  # as make_engine set it
    finally:
        raw.close()


def analyze(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")


def reset_due(sessions: sessionmaker[Session], ids: Sequence[int]) -> None:
    """The given reminders pending again, as the fill left them."""
    with sessions.begin() as session:
        for start in range(0, len(ids), 1000):
            session.execute(
                REMINDERS.update()
                .where(ReminderRow.id.in_(ids[start : start + 1000]))
                .values(
                    state="pending",
                    claimed_by=None,
                    claim_expires_at=None,
                    sent_at=None,
                    attempts=0,
                    last_error=None,
                )
            )


def due_states(sessions: sessionmaker[Session], ids: Sequence[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with sessions() as session:
        for start in range(0, len(ids), 1000):
            rows = session.execute(
                select(ReminderRow.state, func.count())
                .where(ReminderRow.id.in_(ids[start : start + 1000]))
                .group_by(ReminderRow.state)
            )
            for state, count in rows:
                counts[state] = counts.get(state, 0) + count
    return counts


# --- claims ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def figures(label: str, seconds: Sequence[float]) -> str:
    ms = [s * 1e3 for s in seconds]
    worst = max(ms)
    over = sum(1 for m in ms if m >= TARGET_MS)
    verdict = "ok" if not over else f"{over} over {TARGET_MS:g} ms"
    return (
        f"  {label:44} n={len(ms):<4} p50 {percentile(ms, 50):7.2f}  p99 {percentile(ms, 99):7.2f}"
        f"  max {worst:7.2f} ms  [{verdict}]"
    )


def is_due_query(statement: str) -> bool:
    start = statement.lstrip()[:6].upper()
    return start == "SELECT" and "FROM reminders" in statement and "ORDER BY" in statement


@contextmanager
def captured_select(engine: Engine) -> Iterator[dict[str, Any]]:
    """The due queries (ordered SELECTs on ``reminders``) sent meanwhile, with their parameters."""
    seen: dict[str, Any] = {}

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if is_due_query(statement):
            seen.setdefault(statement, parameters)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


@contextmanager
def statement_times(engine: Engine) -> Iterator[dict[str, float]]:
    """Seconds spent in the driver's execute, per kind of statement sent meanwhile."""
    spent: dict[str, float] = {}

    def before(conn: Any, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        kind = words[0].upper() if words else "?"
        if is_due_query(statement):
            kind = "SELECT expired claims" if "claim_expires_at <" in statement else "SELECT due"
        elif kind == "SELECT":
            kind = "SELECT rows"
        seconds = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        spent[kind] = spent.get(kind, 0.0) + seconds

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def time_claims(
    engine: Engine, sessions: sessionmaker[Session], t0: datetime, claims: int, due_ids: list[int]
) -> None:
    ledger = SqlAlchemyReminderLedger(sessions)
    claim = ledger.claim_due
    with captured_select(engine) as seen:
        claim(t0, limit=100, claimer="bench-warm", lease=LEASE)
    reset_due(sessions, due_ids)
    taken, durations = 0, []
    with statement_times(engine) as spent:
        for _ in range(claims):
            started = time.perf_counter()
            got = claim(t0, limit=100, claimer="bench", lease=LEASE)
            durations.append(time.perf_counter() - started)
            taken += len(got)
            if len(got) < 100:
                break
    print(figures(f"claim_due(limit=100), {taken:,} claimed", durations))
    parts = [f"{kind} {seconds / len(durations) * 1e3:.2f}" for kind, seconds in spent.items()]
    rest = (sum(durations) - sum(spent.values())) / len(durations) * 1e3
    print(f"    mean ms per claim: {', '.join(parts)}, rest (Python, fetch, commit) {rest:.2f}")
    empty = []
    for _ in range(20):
        started = time.perf_counter()
        got = claim(t0 - timedelta(minutes=2), limit=100, claimer="bench", lease=LEASE)
        empty.append(time.perf_counter() - started)
        assert not got
    print(figures("claim_due, nothing due", empty))
    reset_due(sessions, due_ids)
    postgres = engine.dialect.name == "postgresql"
    explain = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        for number, (due_query, parameters) in enumerate(seen.items(), 1):
            bare = []
            for _ in range(20):
                started = time.perf_counter()
                found = connection.exec_driver_sql(due_query, parameters).fetchall()
                bare.append(time.perf_counter() - started)
                connection.rollback()
            print(figures(f"due query {number} alone ({len(found)} rows)", bare))
            plan = connection.exec_driver_sql(explain + due_query, parameters).fetchall()
            connection.rollback()
            print(f"    query {number}: " + " ".join(due_query.split()))
            for row in plan:
                print("      " + (row[0] if postgres else f"{row[-1]}"))


# --- dispatch ----------------------------------------------------------------------------------


def serve_stub(rate_limit: float) -> None:
    """``--serve-stub``: the Slack Web API stub; prints READY <url>, counts on SIGTERM."""
    from tests.stubs.slack_api import slack_stub

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with slack_stub() as stub:
        stub.add_team(TEAM, TOKEN)
        for user in USERS:
            stub.add_user(TEAM, user)
        if rate_limit:
            stub.rate_limit("chat.postMessage", rate_limit)
        print(f"READY {stub.url}", flush=True)
        stop.wait()
        calls = len(stub.calls("chat.postMessage"))
        print(f"CALLS {calls} POSTED {len(stub.messages())}", flush=True)


@contextmanager
def stub_process(rate_limit: float) -> Iterator[tuple[str, Callable[[], tuple[int, int]]]]:
    """The stub in its own process: (its Web API URL, a function that stops it and says how many
    chat.postMessage calls it had and how many it answered with a message)."""
    root = Path(__file__).parent.parent
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.reminder_claim",
            "--serve-stub",
            "--rate-limit",
            str(rate_limit),
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready, _, url = process.stdout.readline().strip().partition(" ")
    if ready != "READY":
        process.kill()
        raise RuntimeError("the Slack stub did not start")
    counts = (0, 0)

    def stop() -> tuple[int, int]:
        nonlocal counts
        if process.poll() is None:
            process.terminate()
            out, _ = process.communicate(timeout=30)
            words = out.split()
            if len(words) >= 4 and words[0] == "CALLS":
                counts = (int(words[1]), int(words[3]))
        return counts

    try:
        yield url, stop
    finally:
        stop()


class TimedLedger:
    """The sweep's ledger, timing each claim."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.claims: list[float] = []

    def claim_due(self, now: datetime, *, limit: int, claimer: str, lease: timedelta) -> Any:
        started = time.perf_counter()
        try:
            return self._inner.claim_due(now, limit=limit, claimer=claimer, lease=lease)
        finally:
            self.claims.append(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def dispatch(url: str, t0: datetime, rate_limit: float) -> tuple[int, float, list[float], int]:
    """Sweep until nothing is left; (delivered, seconds, claim times, 429 answers)."""
    with stub_process(rate_limit) as (api_url, stop):
        settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN=TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=api_url,
            DATABASE_URL=url,
        )
        app = build_app(settings, migrate=False, token_verification=False, clock=lambda: t0)
        ledger = TimedLedger(getattr(app.sweep, "_ledger", None))
        if ledger._inner is not None:  # the sweep's claims timed, while it keeps that attribute
            app.sweep._ledger = ledger
        try:
            delivered = 0
            started = time.perf_counter()
            while sent := app.sweep.run_once():
                delivered += sent
            elapsed = time.perf_counter() - started
        finally:
            app.close()
        calls, posted = stop()
    return delivered, elapsed, ledger.claims, calls - posted


def time_dispatch(
    url: str, sessions: sessionmaker[Session], t0: datetime, due_ids: list[int], args: Any
) -> None:
    reset_due(sessions, due_ids)
    delivered, elapsed, claims, refused = dispatch(url, t0, 0)
    states = due_states(sessions, due_ids)
    print(
        f"  dispatch, no stub limit: {delivered:,} reminders in {elapsed:.1f} s = "
        f"{delivered / elapsed:,.0f}/s  (429s: {refused}; due rows now {states})"
    )
    if claims:
        print(figures("claim_due inside the sweep", claims))
    limited = due_ids[: args.limited] if args.limited else due_ids
    reset_due(sessions, limited)  # only these are due again
    delivered, elapsed, claims, refused = dispatch(url, t0, args.rate_limit)
    rate = delivered / elapsed
    note = f" (--limited {len(limited):,} of {len(due_ids):,})" if args.limited else ""
    if len(limited) < 10 * args.rate_limit:
        note += " (few: the stub's first second of burst counts for much)"
    print(
        f"  dispatch, stub limit {args.rate_limit:g}/s{note}: {delivered:,} reminders in "
        f"{elapsed:.1f} s = {rate:,.1f}/s = {rate / args.rate_limit:.0%} of the limit "
        f"(429s answered: {refused})"
    )


# --- one database ------------------------------------------------------------------------------


def run(label: str, url: str, args: Any) -> None:
    print(f"== {label}: {args.tasks:,} tasks, {3 * args.tasks:,} reminders, {args.due:,} due ==")
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
        sessions = make_sessionmaker(engine)
        t0 = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        fill(engine, args.tasks, args.due, t0)
        filled = time.perf_counter() - started
        started = time.perf_counter()
        analyze(engine)
        analysed = time.perf_counter() - started
        print(
            f"  fill: {filled:.1f} s ({args.tasks / filled:,.0f} tasks/s with their part and "
            f"3 reminders); {'ANALYZE' if 'sqlite' in url else 'VACUUM ANALYZE'} {analysed:.1f} s"
        )
        due_ids = [reminder_id(n, DUE_OFFSET) for n in due_numbers(args.tasks, args.due)]
        time_claims(engine, sessions, t0, args.claims, due_ids)
        time_dispatch(url, sessions, t0, due_ids, args)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--claims", type=int, default=50, help="timed claim_due calls")
    parser.add_argument("--rate-limit", type=float, default=50, help="stub chat.postMessage/s")
    parser.add_argument(
        "--limited", type=int, default=0, help="dispatch only N reminders in the limited run"
    )
    parser.add_argument("--serve-stub", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stub:
        serve_stub(args.rate_limit)
        return
    if not 0 < args.due <= args.tasks:
        parser.error("--due must be between 1 and --tasks")
    logging.basicConfig(level=logging.ERROR)
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
