"""The card sweep's query on a big store: how long ``TaskCards.behind(100)`` takes, and its plan.

Fills ``task_cards`` with N cards (three per task), B of them behind their task, on SQLite and on
PostgreSQL, then times the sweep's query (median of 20) and prints the plan. The query reads the
partial index of behind cards only, so it should stay flat as N grows.

    python -m bench.card_sweep [--cards 300000] [--behind 500] [--db sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, insert, text

from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade_engine
from storage.tables import TaskCardRow
from storage.task_cards import SqlAlchemyTaskCards
from tests.postgres import Cluster

BATCH = 20_000


def fill(engine: Engine, cards: int, behind: int) -> None:
    every = max(1, cards // max(1, behind))
    rows = []
    with engine.begin() as connection:
        for i in range(cards):
            late = i % every == 0 and i // every < behind
            rows.append(
                {
                    "team_id": "T1",
                    "task_id": f"task{i // 3}",
                    "channel_id": f"C{i % 50}",
                    "message_ts": f"{i}.000001",
                    "kind": "channel",
                    "user_id": None,
                    "shown_version": 3,
                    "wanted_version": 4 if late else 3,
                }
            )
            if len(rows) == BATCH:
                connection.execute(insert(TaskCardRow), rows)
                rows = []
        if rows:
            connection.execute(insert(TaskCardRow), rows)
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE task_cards"))
        else:
            connection.execute(text("ANALYZE"))


def plan(engine: Engine) -> str:
    query = (
        "SELECT id FROM task_cards WHERE shown_version < wanted_version "
        "AND (claim_expires_at IS NULL OR claim_expires_at < CURRENT_TIMESTAMP) "
        "ORDER BY id LIMIT 100"
    )
    explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as connection:
        return " | ".join(str(row[-1]) for row in connection.execute(text(explain + query)))


def measure(name: str, url: str, cards: int, behind: int) -> None:
    engine = make_engine(url)
    upgrade_engine(engine)
    started = time.perf_counter()
    fill(engine, cards, behind)
    filled = time.perf_counter() - started
    store = SqlAlchemyTaskCards(make_sessionmaker(engine))
    times = []
    for _ in range(20):
        started = time.perf_counter()
        found = store.behind(100)
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"{name}: {cards} cards, {behind} behind (filled in {filled:.1f} s): behind(100) "
        f"returned {len(found)}, median {statistics.median(times):.2f} ms, "
        f"max {max(times):.2f} ms"
    )
    print(f"  plan: {plan(engine)}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=300_000)
    parser.add_argument("--behind", type=int, default=500)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            measure("sqlite", url, args.cards, args.behind)
    if args.db in ("postgres", "both"):
        cluster = Cluster().start()
        try:
            measure("postgres", cluster.url, args.cards, args.behind)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
