"""The shared rate-limit budget on SQLite and PostgreSQL: the last slots go to exactly as many
callers as the limit allows, however many engines race for them, and a pause holds for all."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from bot.domain.rates import Rate
from storage.engine import make_engine, make_sessionmaker
from storage.rate_budget import SqlAlchemyRateBudget

RATE = Rate(calls=5, seconds=60)


def test_racing_engines_take_exactly_the_limit_and_the_rest_are_told_to_wait(
    engine: Engine, database_url: str
) -> None:
    engines = [engine, make_engine(database_url)]  # two "processes": two pools
    budgets = [SqlAlchemyRateBudget(make_sessionmaker(e)) for e in engines]
    start = threading.Barrier(12)
    waits: list[float] = []

    def take(number: int) -> None:
        start.wait()
        waits.append(budgets[number % 2].take("api:op", f"slot{number}", RATE, 30.0))

    threads = [threading.Thread(target=take, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engines[1].dispose()
    assert sorted(waits)[:5] == [0.0] * 5 and all(w > 0 for w in sorted(waits)[5:])
    assert budgets[0].take("api:other", "x", RATE, 30.0) == 0.0  # each key its own budget


def test_a_released_slot_counts_a_window_from_its_end_and_a_pause_holds_for_everyone(
    engine: Engine, database_url: str
) -> None:
    one = SqlAlchemyRateBudget(make_sessionmaker(engine))
    other_engine = make_engine(database_url)
    other = SqlAlchemyRateBudget(make_sessionmaker(other_engine))
    rate = Rate(calls=1, seconds=60)
    assert one.take("api", "a", rate, 30.0) == 0.0
    assert 59 < other.take("api", "b", rate, 30.0) <= 60  # in flight: a window from now
    one.release("api", "a")
    assert 59 < other.take("api", "b", rate, 30.0) <= 60
    other.pause("paused", 120)
    assert 119 < one.take("paused", "c", None, 30.0) <= 120  # no limit, but the API said wait
    other_engine.dispose()
