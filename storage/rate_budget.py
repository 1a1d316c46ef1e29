"""The task APIs' rate-limit budgets, shared through the database by every taskbot process.

Each change is one short write transaction on the budget's row, so processes never both take
the last slot: the row is created if missing (an upsert that does nothing if another process
created it first), locked (``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time),
changed by the pure rules of ``bot.domain.rates``, and written back with a conditional update
on its version. An answer that changes nothing (wait, or an API with no limit and no pause) is a
plain read and takes no lock. The clock is the database's on PostgreSQL (``clock_timestamp()``,
read after the lock), so instances on several machines agree; SQLite is one machine, so its
clock is the process's. Implements ``bot.backends.ratelimit.RateBudget`` structurally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.rates import Budget, Rate, pause, release, take, tell
from storage.dialects import dialect_insert
from storage.engine import rowcount
from storage.tables import RateBudgetRow

T = TypeVar("T")
EMPTY = Budget().model_dump_json()


class SqlAlchemyRateBudget:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def take(self, key: str, slot: str, rate: Rate | None, hold: float) -> float:
        """0.0 when ``slot`` was taken, else the seconds to wait before asking again."""
        return self._change(key, lambda budget, now: take(budget, rate, now, slot, hold))

    def release(self, key: str, slot: str) -> None:
        self._change(key, lambda budget, now: (release(budget, slot, now), None))

    def pause(self, key: str, seconds: float) -> None:
        self._change(key, lambda budget, now: (pause(budget, now, seconds), None))

    def tell(self, key: str, rate: Rate) -> None:
        self._change(key, lambda budget, now: (tell(budget, rate), None))

    def _change(self, key: str, change: Callable[[Budget, float], tuple[Budget, T]]) -> T:
        """Answers that change nothing (no limit, or a pause to wait out) need only a read."""
        with self._sessions() as session:
            state = session.scalar(select(RateBudgetRow.state).where(RateBudgetRow.key == key))
            unchanged, answer = _apply(change, state, _now(session))
        if unchanged:
            return answer
        exists = state is not None
        while True:
            with self._sessions.begin() as session:
                if session.get_bind().dialect.name == "postgresql":
                    # a budget lost in a crash costs at most a 429, never a wait for the disk
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                if not exists:
                    session.execute(_create(session, key))
                state, version = session.execute(
                    select(RateBudgetRow.state, RateBudgetRow.version)
                    .where(RateBudgetRow.key == key)
                    .with_for_update()
                ).one()
                before = Budget.model_validate_json(state)
                after, answer = change(before, _now(session))
                if after == before:
                    return answer
                written = session.execute(
                    update(RateBudgetRow)
                    .where(RateBudgetRow.key == key, RateBudgetRow.version == version)
                    .values(state=after.model_dump_json(), version=version + 1)
                )
                if rowcount(written) == 1:
                    return answer
            # another process changed it between our read and write: read it again


def _apply(
    change: Callable[[Budget, float], tuple[Budget, T]], state: str | None, now: float
) -> tuple[bool, T]:
    before = Budget.model_validate_json(state) if state is not None else Budget()
    after, answer = change(before, now)
    return after == before, answer


def _create(session: Session, key: str) -> Any:
    return (
        dialect_insert(session.get_bind().dialect.name, RateBudgetRow)
        .values(key=key, state=EMPTY, version=0)
        .on_conflict_do_nothing(index_elements=[RateBudgetRow.key])
    )


def _now(session: Session) -> float:
    if session.get_bind().dialect.name != "postgresql":
        return time.time()
    epoch = select(func.extract("epoch", func.clock_timestamp()))
    return float(session.execute(epoch).scalar_one())
