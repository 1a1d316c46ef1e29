"""Liveness and readiness, and the heartbeat a worker or scheduler process writes.

Readiness asks the database, not memory: whether it answers, whether its schema is this code's,
whether a worker and a scheduler beat recently (``READY_ROLES``) and whether the longest-waiting
job has waited under ``READY_MAX_JOB_AGE_SECONDS``. A load balancer sends traffic only to a ready
web process; liveness only says the process still answers. Imports the service ports only.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.service.ports import Clock

log = logging.getLogger(__name__)


class HeartbeatStore(Protocol):
    def beat(self, process_id: str, role: str, started_at: datetime, now: datetime) -> None: ...

    def drop(self, process_id: str) -> None: ...


def process_id(role: str) -> str:
    """``role:host:pid``: one row per role of one process, readable in ``taskbot status``."""
    return f"{role}:{socket.gethostname()}:{os.getpid()}"


class HeartbeatLoop:
    """Beats for the roles this process hosts every ``interval`` seconds on a daemon thread; the
    first beat is written before ``start`` returns, so a process is ready once it says so."""

    def __init__(
        self, store: HeartbeatStore, roles: Iterable[str], interval: float, clock: Clock
    ) -> None:
        self._store, self._interval, self._clock = store, interval, clock
        self._ids = {role: process_id(role) for role in roles}
        self._started = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._failing = False

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def beat(self) -> None:
        now = self._clock()
        try:
            for role, pid in self._ids.items():
                self._store.beat(pid, role, self._started, now)
        except Exception as exc:  # the database is away: readiness says so; keep beating
            if not self._failing:
                log.warning("heartbeat not written: %s", type(exc).__name__)
            self._failing = True
        else:
            self._failing = False

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.beat()

    def stop(self) -> None:
        """Stop beating and remove this process's rows (it is no longer live)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._interval + 5)
        for pid in self._ids.values():
            try:
                self._store.drop(pid)
            except Exception:  # a stale row expires by itself
                log.warning("heartbeat row %s not removed", pid.split(":")[0])


@dataclass(frozen=True)
class Readiness:
    """The readiness checks; each probe reads the database (and raises when it can't)."""

    ping: Callable[[], None]
    schema_current: Callable[[], bool]
    live_roles: Callable[[datetime], set[str]]
    oldest_pending: Callable[[datetime], datetime | None]
    roles: frozenset[str]
    stale_after: timedelta
    max_job_age: timedelta
    clock: Clock

    def __call__(self) -> dict[str, object]:
        """Booleans are the checks (all true: ready); other values inform."""
        try:
            self.ping()
        except Exception:  # unreachable: nothing else can be read
            return {"database": False, "schema": False, **{r: False for r in sorted(self.roles)}}
        now = self.clock()
        try:
            live = self.live_roles(now - self.stale_after)
            oldest = self.oldest_pending(now)
            schema = self.schema_current()
        except Exception:  # the database went away between two reads
            return {"database": False, "schema": False, **{r: False for r in sorted(self.roles)}}
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        return {
            "database": True,
            "schema": schema,
            **{role: role in live for role in sorted(self.roles)},
            "jobs": age < self.max_job_age.total_seconds(),
            "oldest_job_seconds": round(age, 1),
        }
