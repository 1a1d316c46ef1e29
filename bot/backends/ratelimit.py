"""The task APIs' rate limits, held across every taskbot process.

``RateBudget`` is the port: ``storage.rate_budget`` implements it on the shared database (the
composition root wires it in), ``InMemoryRateBudget`` for one process (a client built without
the database, e.g. in a unit test). ``Throttle`` waits for a turn, but never longer than the
call's budget of waiting: past it the call fails with a message a person can act on, so a
rate-limited API makes a job fail cleanly instead of holding it without end. Imports only
``bot.domain``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from bot.domain import rates
from bot.domain.errors import BackendUnavailable
from bot.domain.rates import Budget, Rate
from bot.metrics import RATE_LIMIT_WAIT_SECONDS, RATE_LIMIT_WAITS

log = logging.getLogger(__name__)


class RateBudget(Protocol):
    """Slots in a sliding window per key, and pauses the API asked for, shared by all callers."""

    def take(self, key: str, slot: str, rate: Rate | None, hold: float) -> float:
        """0.0 when ``slot`` was taken (hold it at most ``hold`` s), else seconds to wait."""
        ...

    def release(self, key: str, slot: str) -> None:
        """The call ended now; its slot counts one window from now."""
        ...

    def pause(self, key: str, seconds: float) -> None:
        """No call under ``key`` for ``seconds`` (the API said so)."""
        ...

    def tell(self, key: str, rate: Rate) -> None:
        """The API stated its limit: it replaces the configured one for ``key``."""
        ...


class InMemoryRateBudget:
    """One process's budgets (the database's is shared; this one is not)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._budgets: dict[str, Budget] = {}
        self._lock = threading.Lock()

    def take(self, key: str, slot: str, rate: Rate | None, hold: float) -> float:
        with self._lock:
            budget = self._budgets.get(key, Budget())
            self._budgets[key], wait = rates.take(budget, rate, self._clock(), slot, hold)
            return wait

    def release(self, key: str, slot: str) -> None:
        with self._lock:
            budget = self._budgets.get(key, Budget())
            self._budgets[key] = rates.release(budget, slot, self._clock())

    def pause(self, key: str, seconds: float) -> None:
        with self._lock:
            budget = self._budgets.get(key, Budget())
            self._budgets[key] = rates.pause(budget, self._clock(), seconds)

    def tell(self, key: str, rate: Rate) -> None:
        with self._lock:
            self._budgets[key] = rates.tell(self._budgets.get(key, Budget()), rate)


class Throttle:
    """Turns in a ``RateBudget``, waited for within a bound."""

    def __init__(
        self,
        budget: RateBudget,
        name: str,
        *,
        max_wait: float,
        hold: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.budget = budget
        self._name = name
        self._max_wait = max_wait
        self._hold = hold
        self._sleep = sleep
        self._told: dict[str, Rate] = {}  # what this process last passed on, so it asks once

    @contextmanager
    def turn(self, key: str, rate: Rate | None, *, max_wait: float | None = None) -> Iterator[None]:
        """Hold a slot for the body (one request). Waits at most ``max_wait`` (the default
        budget otherwise) and fails at once when the wait asked for is longer than what is left."""
        slot = uuid.uuid4().hex
        deadline = time.monotonic() + (self._max_wait if max_wait is None else max_wait)
        while (wait := self.budget.take(key, slot, rate, self._hold)) > 0:
            left = deadline - time.monotonic()
            if wait > left:
                raise BackendUnavailable(
                    f"{self._name} is at its rate limit: its next free turn is about "
                    f"{_seconds(wait)} away."
                )
            log.info("%s: waiting %.1f s for its rate limit", self._name, wait)
            RATE_LIMIT_WAITS.labels(self._name).inc()
            RATE_LIMIT_WAIT_SECONDS.labels(self._name).inc(wait)
            self._sleep(wait)
        try:
            yield
        finally:
            if rate is not None:
                self.budget.release(key, slot)

    def pause(self, key: str, seconds: float) -> None:
        self.budget.pause(key, seconds)

    def tell(self, key: str, rate: Rate) -> None:
        if self._told.get(key) != rate:
            self.budget.tell(key, rate)
            self._told[key] = rate


def _seconds(wait: float) -> str:
    return f"{wait:.0f} s" if wait < 120 else f"{wait / 60:.0f} min"
