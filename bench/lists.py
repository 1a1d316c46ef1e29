"""Lists and App Home on a big store, on SQLite and on PostgreSQL (issue 13).

For each store size: two workspaces (90 % / 10 % of the tasks), 10,000 people, 70 % completed
(``bench.list_store``); statistics as a start leaves them (SQLite: the sampled ANALYZE after
migrations; PostgreSQL: VACUUM ANALYZE, as autovacuum would). Then, for a typical person (about
20 open tasks) and a heavy one (2,000 assigned to them, 2,000 assigned by them), each path as
the app runs it: ``/task mine|list|assigned|overdue`` (the first page and its message, as the
command builds it) and Home (``publish_home``, with Slack replaced by a stand-in that
serialises the view). Figures: p50/p99 in ms, SQL statements per call, and garbage collection
during the timed calls: collections, their total and longest pause, and the full (generation 2)
ones with their longest pause, in CPU ms of the collecting thread (``GcTimer``). The collector
is settled as a started taskbot settles it (``bot.collector``); ``--no-freeze`` shows what that
saves. Also this process's CPU time per call (p50: on a loaded machine the wall time mostly
waits for a core) and the 1-minute load average when the path's calls ended. Target at 1M:
p99 < 50 ms; no full collection over 10 ms.

    python -m bench.lists [--tasks 10000,100000,1000000] [--db sqlite|postgres|both]
                          [--calls 200] [--people 10000] [--who typical,heavy]
                          [--gc-thresholds 700,10,10] [--no-freeze]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from bench.list_store import GROUPS, HEAVY, TEAMS, TYPICAL, seed
from bot.backends.local import LocalBackend
from bot.collector import settle_after_start
from bot.domain.models import Actor, ListView
from bot.service.tasks import TaskService
from bot.slack.blocks.task_list import MAX_ROWS, task_list
from bot.slack.deps import SlackDeps
from bot.slack.home import publish_home
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade_engine
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier
from tests.postgres import Cluster

PATHS = {
    "mine": ListView.MINE,
    "list": ListView.INVOLVED,
    "assigned": ListView.ASSIGNED,
    "overdue": ListView.OVERDUE,
}
WARMUP = 5


class StandIn:
    """Slack's Web API for ``views.publish``: serialises what would be sent."""

    def __init__(self) -> None:
        self.sent = 0

    def views_publish(self, *, user_id: str, view: Any) -> None:
        self.sent += len(json.dumps(view.to_dict()))


class GcTimer:
    """Collections and their pauses, from ``gc.callbacks``; full (generation 2) ones apart.

    A pause is the collecting thread's CPU time (``time.thread_time``), which is what the
    collection costs: on a loaded machine the wall-clock pause also holds time the thread
    waited for a core, which no tuning of the collector changes."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self.full: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
            return
        pause = (time.thread_time() - self._started) * 1000
        self.pauses.append(pause)
        if info.get("generation") == 2:
            self.full.append(pause)

    def summary(self) -> str:
        pauses, full = self.pauses, self.full
        return (
            f"{len(pauses)} gc {sum(pauses):.1f} ms cpu (max {max(pauses, default=0):.1f}), "
            f"{len(full)} full (max {max(full, default=0):.1f})"
        )


def measure(engine: Engine, call: Callable[[], None], calls: int) -> str:
    for _ in range(WARMUP):
        call()
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    timer = GcTimer()
    times: list[float] = []
    cpu: list[float] = []
    event.listen(engine, "before_cursor_execute", count)
    gc.callbacks.append(timer)
    try:
        for _ in range(calls):
            started, used = time.perf_counter(), time.thread_time()
            call()
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - used) * 1000)
    finally:
        gc.callbacks.remove(timer)
        event.remove(engine, "before_cursor_execute", count)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    own = statistics.median(cpu)
    load = os.getloadavg()[0]  # the machine may be shared: the figure's context
    return (
        f"p50 {p50:6.1f}  p99 {p99:6.1f} ms  cpu p50 {own:5.1f} ms  {statements / calls:.1f} "
        f"stmt/call  {timer.summary()}  load {load:.2f}"
    )


def listing(
    service: TaskService, actor: Actor, view: ListView, now: datetime
) -> Callable[[], None]:
    """The list command's work: the first page and its message."""

    def call() -> None:
        page = service.list_page(actor, view, limit=MAX_ROWS)
        message = task_list(page, heading=view.value, viewer=actor.user_id, now=now)
        json.dumps([block.to_dict() for block in message.blocks])

    return call


def run(label: str, url: str, tasks: int, args: Any) -> None:
    print(f"== {label}: {tasks:,} tasks, {args.people:,} people a workspace ==", flush=True)
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.perf_counter()
        seed(engine, tasks, args.people, now)
        filled = time.perf_counter() - started
        started = time.perf_counter()
        if engine.dialect.name == "sqlite":
            upgrade_engine(engine)  # a start after the fill: its sampled ANALYZE
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
        print(f"  fill {filled:.1f} s, statistics {time.perf_counter() - started:.1f} s")
        directory = FakeDirectory()
        directory.add_group(TEAMS[0], GROUPS[0], [HEAVY])  # the typical person is in none
        clock = FakeClock(now)
        service = TaskService(
            LocalBackend(make_sessionmaker(engine)), FakeNotifier(), directory, clock
        )
        slack = StandIn()
        deps = SlackDeps(
            service=service,
            directory=cast(Any, directory),
            clients=lambda _team: cast(Any, slack),
            clock=clock,
            jobs=cast(Any, None),
        )
        if args.gc_thresholds:
            gc.set_threshold(*(int(n) for n in args.gc_thresholds.split(",")))
        if not args.no_freeze:
            settle_after_start()  # as every taskbot process does after start-up
        print(f"  gc: {gc.get_freeze_count():,} objects frozen, thresholds {gc.get_threshold()}")
        people = {"typical": TYPICAL, "heavy": HEAVY}
        for name in args.who.split(","):
            who = people[name]
            for path, view in PATHS.items():
                call = listing(service, Actor(team_id=TEAMS[0], user_id=who), view, now)
                print(f"  {name:8} {path:9} {measure(engine, call, args.calls)}", flush=True)
            call = functools.partial(publish_home, deps, TEAMS[0], who)
            print(f"  {name:8} {'Home':9} {measure(engine, call, args.calls)}", flush=True)
    finally:
        gc.unfreeze()
        engine.dispose()


def postgres_database(server: str, name: str) -> str:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="10000,100000,1000000")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per path")
    parser.add_argument("--who", default="typical,heavy", help="typical, heavy or both")
    parser.add_argument("--no-freeze", action="store_true", help="leave start-up objects in gc")
    parser.add_argument("--gc-thresholds", default="", help="e.g. 700,10,10 (gc.set_threshold)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.tasks.split(",")]
    logging.basicConfig(level=logging.ERROR)
    if args.db in ("sqlite", "both"):
        for tasks in sizes:
            with tempfile.TemporaryDirectory(prefix="taskbot-lists-") as tmp:
                run("SQLite", f"sqlite:///{tmp}/bench.db", tasks, args)
    if args.db in ("postgres", "both"):
        try:
            cluster = Cluster().start()
        except FileNotFoundError as exc:
            print(f"== PostgreSQL: skipped ({exc}) ==")
            return
        try:
            for tasks in sizes:
                run("PostgreSQL", postgres_database(cluster.url, f"lists_{tasks}"), tasks, args)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
