"""The shared rate-limit budget (``storage.rate_budget``) on SQLite and on PostgreSQL.

* Overhead: what one turn (take + release, no wait) adds to a task-API call, p50/p99.
* Shared use: P processes × T threads take turns in one budget of L calls per W seconds for D
  seconds (each "call" is released at once). Prints the turns granted, the most granted in any
  window (must be ≤ L) and the share of the limit used (granted / (L × D / W)).

    python -m bench.rate_budget [--db sqlite|postgres|both] [--turns 2000] [--processes 3]
                                [--threads 4] [--limit 20] [--window 1] [--seconds 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bot.domain.rates import Rate
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade_engine
from storage.rate_budget import SqlAlchemyRateBudget
from tests.postgres import Cluster

HOLD = 23.0


def overhead(url: str, turns: int) -> tuple[float, float]:
    engine = make_engine(url)
    budget = SqlAlchemyRateBudget(make_sessionmaker(engine))
    rate = Rate(calls=60, seconds=0.001)
    took: list[float] = []
    for _ in range(turns):
        slot = uuid.uuid4().hex
        started = time.perf_counter()
        while budget.take("bench-overhead", slot, rate, HOLD) > 0:
            pass
        budget.release("bench-overhead", slot)
        took.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    cut = statistics.quantiles(took, n=100)
    return cut[49], cut[98]


def worker(url: str, threads: int, rate: Rate, seconds: float, start: Any, out: Any) -> None:
    engine = make_engine(url)
    budget = SqlAlchemyRateBudget(make_sessionmaker(engine))
    granted: list[float] = []
    start.wait()
    until = time.time() + seconds

    def run() -> None:
        while time.time() < until:
            slot = uuid.uuid4().hex
            wait = budget.take("bench-shared", slot, rate, HOLD)
            if wait > 0:
                time.sleep(min(wait, max(0.0, until - time.time())))
                continue
            granted.append(time.time())
            budget.release("bench-shared", slot)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    engine.dispose()
    out.put(granted)


def shared(url: str, args: argparse.Namespace) -> tuple[int, int, float]:
    rate = Rate(calls=args.limit, seconds=args.window)
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(args.processes), context.Queue()
    procs = [
        context.Process(target=worker, args=(url, args.threads, rate, args.seconds, start, out))
        for _ in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    stamps = sorted(t for _ in procs for t in out.get(timeout=args.seconds + 60))
    for proc in procs:
        proc.join()
    peak = max(
        sum(1 for t in stamps[i:] if t - first < args.window) for i, first in enumerate(stamps)
    )
    ideal = args.limit * args.seconds / args.window
    return len(stamps), peak, len(stamps) / ideal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    cluster = None
    urls: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        if args.db in ("sqlite", "both"):
            urls.append(("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}"))
        if args.db in ("postgres", "both"):
            cluster = Cluster().start()
            urls.append(("postgres", cluster.url))
        try:
            for name, url in urls:
                engine = make_engine(url)
                upgrade_engine(engine)
                engine.dispose()
                p50, p99 = overhead(url, args.turns)
                print(f"{name}: one turn (take + release) p50 {p50:.2f} ms, p99 {p99:.2f} ms")
                granted, peak, share = shared(url, args)
                print(
                    f"{name}: {args.processes} processes × {args.threads} threads, "
                    f"{args.limit}/{args.window:g} s for {args.seconds:g} s: {granted} turns, "
                    f"at most {peak} in any window (limit {args.limit}), {share:.0%} of the limit"
                )
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
