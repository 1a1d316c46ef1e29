"""A taskbot worker process for the shared rate-limit tests: its own engine and its own LINE
WORKS and Paymo backends, built by the real factories from settings, calling both task APIs
from several threads at once. Started with ``spawn``, so everything here is module-level."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bot.backends import build_backend
from bot.backends.lineworks import LineWorksBackend
from bot.config import Settings
from storage.engine import make_engine, make_sessionmaker

TEAM, BOSS = "T1", "UBOSS"
PAYMO_EMAIL = "ana@example.com"


def hammer(settings: Settings, threads: int, calls: int, start: Any, results: Any) -> None:
    """Wait at ``start`` with the other workers, then make ``calls`` calls per thread to each
    API; put (calls that succeeded, the errors) on ``results``."""
    engine = make_engine(settings.DATABASE_URL)
    sessions = make_sessionmaker(engine)
    lineworks = build_backend("lineworks", sessions=sessions, settings=settings)
    paymo = build_backend("paymo", sessions=sessions, settings=settings)
    assert isinstance(lineworks, LineWorksBackend)
    work: list[Callable[[], object]] = [
        lambda: lineworks.all_tasks(TEAM, BOSS),
        lambda: paymo.find_user_by_email(TEAM, PAYMO_EMAIL),
    ]
    done: list[int] = []
    errors: list[str] = []

    def run(call: Callable[[], object]) -> None:
        for _ in range(calls):
            try:
                call()
                done.append(1)
            except Exception as exc:  # reported to the test, which fails on any
                errors.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=run, args=(call,)) for call in work for _ in range(threads)]
    start.wait()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    engine.dispose()
    results.put((len(done), errors))
